package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"chefdeploy/models"
	"chefdeploy/sandbox"
)

// workingQueue starts a replica that works jobs, subscribed to the ends of
// its jobs. Its sweeper sweeps at start and then only hourly, so a test sees
// exactly what the first sweep did.
func (f *fixture) workingQueue(t *testing.T) (*Queue, <-chan *river.Event) {
	t.Helper()
	q, err := NewQueue(f.deps.Deps, Options{Work: true, PollInterval: 20 * time.Millisecond, SweepInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := q.Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed, river.EventKindJobSnoozed)
	t.Cleanup(cancel)
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := q.StopAndCancel(ctx); err != nil {
			t.Errorf("stopping the queue: %v", err)
		}
	})
	return q, events
}

// awaitJob waits for the first job of kind to end and says how it ended.
func awaitJob(t *testing.T, events <-chan *river.Event, kind string, within time.Duration) river.EventKind {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("the queue stopped before a %s job ended", kind)
			}
			if ev.Job.Kind == kind {
				return ev.Kind
			}
		case <-timeout:
			t.Fatalf("no %s job ended within %v", kind, within)
		}
	}
}

// Connect through a working replica: the provision job runs and completes,
// and the app is connected.
func TestQueueConnectsEndToEnd(t *testing.T) {
	t.Parallel()
	f := setup(t)
	q, events := f.workingQueue(t)
	if _, started, err := q.Connections.Start(t.Context(), Start{ActorID: f.user.ID, AppID: f.app.ID, Team: sandbox.TeamAcme, SealedToken: f.sealed}); err != nil || !started {
		t.Fatalf("Start = %v, %v", started, err)
	}
	if kind := awaitJob(t, events, ProvisionArgs{}.Kind(), 15*time.Second); kind != river.EventKindJobCompleted {
		t.Fatalf("provision job ended %s", kind)
	}
	if c := f.connection(t); c.State != models.StateConnected || len(f.sb.Projects(sandbox.TeamAcme)) != 1 {
		t.Fatalf("connection = %s %q, want connected to one project", c.State, c.Error)
	}
}

// A replica that crashed mid-provision left its job running and still holds
// River's leadership lease. A new replica, which cannot become leader (so
// River's rescuer and scheduler never run), records the expired attempt at
// start, and works the reconcile that deletes the project the attempt left.
func TestCrashedLeaderDoesNotHoldDeadlinesBack(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.start(t, sandbox.TeamAcme)
	_, p := f.recordedProject(t, sandbox.TeamAcme)
	f.expire(t)
	f.exec(t, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now(), attempted_by = ARRAY['dead-replica']
		 WHERE kind = $1`, ProvisionArgs{}.Kind())
	f.exec(t, `INSERT INTO river_leader (elected_at, expires_at, leader_id, name)
		VALUES (now(), now() + interval '1 hour', 'dead-replica', 'default')`)

	_, events := f.workingQueue(t)
	if kind := awaitJob(t, events, ReconcileArgs{}.Kind(), 15*time.Second); kind != river.EventKindJobCompleted {
		t.Fatalf("reconcile job ended %s", kind)
	}
	if c := f.connection(t); c.State != models.StateFailed || c.Error != models.DeadlineMessage {
		t.Fatalf("connection = %s %q, want failed %q", c.State, c.Error, models.DeadlineMessage)
	}
	if n := f.events(t, models.EventDeadlineFired); n != 1 {
		t.Fatalf("deadline_fired events = %d, want 1", n)
	}
	if f.live(sandbox.TeamAcme, p.ProjectID) {
		t.Fatal("the project the crashed attempt left is still live")
	}
	var leader string
	if err := f.db.GetContext(t.Context(), &leader, `SELECT leader_id FROM river_leader`); err != nil {
		t.Fatal(err)
	}
	if leader != "dead-replica" {
		t.Fatalf("leader = %s: the test replica took the lease, so it proves nothing", leader)
	}
}

// River runs a job again once it has run longer than RescueStuckJobsAfter,
// whatever the worker's own timeout: that must outlast every worker's, or a
// slow deploy would upload twice at once.
func TestRescueWaitsForTheLongestJob(t *testing.T) {
	t.Parallel()
	rescue := rescueStuckJobsAfter
	for name, timeout := range map[string]time.Duration{
		"deploy":    (&DeployWorker{}).Timeout(nil),
		"reconcile": (&ReconcileWorker{}).Timeout(nil),
		"default":   time.Minute,
	} {
		if timeout >= rescue {
			t.Errorf("%s jobs may run %v, but River rescues them after %v", name, timeout, rescue)
		}
	}
}
