package jobs

import (
	"context"
	"sync"
	"testing"
	"time"

	"chefdeploy/models"
	"chefdeploy/sandbox"
)

// Two replicas sweeping at once fail an expired attempt once, leave one in
// time alone, and queue one reconcile.
func TestSweepFailsExpiredOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.start(t, sandbox.TeamAcme)
	f.expire(t)
	other, err := models.CreateApp(t.Context(), f.db, f.user.ID, "In Time", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.conns.Start(t.Context(), Start{ActorID: f.user.ID, AppID: other.ID, Team: sandbox.TeamAcme, SealedToken: f.sealed}); err != nil {
		t.Fatal(err)
	}
	replica, err := NewQueue(f.deps.Deps, Options{})
	if err != nil {
		t.Fatal(err)
	}

	var (
		wg     sync.WaitGroup
		go1    = make(chan struct{})
		counts [2]int
		errs   [2]error
	)
	for i, s := range []*DeadlineSweeper{f.sweeper, replica.Sweeper()} {
		wg.Go(func() {
			<-go1
			counts[i], errs[i] = s.Sweep(t.Context())
		})
	}
	close(go1)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if counts[0]+counts[1] != 1 {
		t.Fatalf("sweeps failed %v attempts, want 1 in all", counts)
	}
	if n, err := f.sweeper.Sweep(t.Context()); err != nil || n != 0 {
		t.Fatalf("a third sweep = %d, %v; want 0", n, err)
	}

	if c := f.connection(t); c.State != models.StateFailed || c.Error != models.DeadlineMessage {
		t.Fatalf("expired connection = %s %q", c.State, c.Error)
	}
	if n := f.events(t, models.EventDeadlineFired); n != 1 {
		t.Fatalf("deadline_fired events = %d, want 1", n)
	}
	if n := f.queued(t, ReconcileArgs{}.Kind()); n != 1 {
		t.Fatalf("reconcile jobs = %d, want 1", n)
	}
	inTime, err := models.ConnectionByApp(t.Context(), f.db, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	if inTime.State != models.StateConnecting {
		t.Fatalf("the attempt in time was moved to %s", inTime.State)
	}
	if n := f.count(t, `SELECT count(*) FROM events WHERE app_id = $1 AND kind = $2`, other.ID, models.EventDeadlineFired); n != 0 {
		t.Fatalf("deadline_fired events of the attempt in time = %d", n)
	}
}

// Run sweeps as soon as it starts: an attempt that expired while no replica
// ran is recorded without waiting for the interval (or for River's leader).
func TestRunSweepsAtStart(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.start(t, sandbox.TeamAcme)
	f.expire(t)

	s := &DeadlineSweeper{conns: f.conns, db: f.db, metrics: f.deps.metrics, logger: f.deps.Logger, interval: time.Hour}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	waitFor(t, "the expired attempt recorded", 5*time.Second, func() bool {
		return f.events(t, models.EventDeadlineFired) == 1
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if c := f.connection(t); c.State != models.StateFailed {
		t.Fatalf("connection = %s, want failed", c.State)
	}
}
