package jobs

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"chefdeploy/models"
	"chefdeploy/sandbox"
)

// A second Start while an attempt is in flight returns that attempt and
// starts nothing.
func TestStartTwiceInFlightIsOneAttempt(t *testing.T) {
	t.Parallel()
	f := setup(t)
	first := f.start(t, sandbox.TeamAcme)
	again, started, err := f.conns.Start(t.Context(), Start{ActorID: f.user.ID, AppID: f.app.ID, Team: sandbox.TeamNearlyFull, SealedToken: f.sealed})
	if err != nil {
		t.Fatal(err)
	}
	if started || again.Attempt != first.Attempt || again.TeamSlug != sandbox.TeamAcme {
		t.Fatalf("second Start: started=%v attempt %d team %s; want the first attempt %d", started, again.Attempt, again.TeamSlug, first.Attempt)
	}
	if n := f.events(t, models.EventConnectStarted); n != 1 {
		t.Fatalf("connect_started events = %d, want 1", n)
	}
	if n := f.queued(t, ProvisionArgs{}.Kind()); n != 1 {
		t.Fatalf("provision jobs = %d, want 1", n)
	}
}

// A Start after an attempt that expired unrecorded records its deadline once;
// the sweeper then has nothing left to record.
func TestStartAfterExpiredAttemptRecordsDeadlineOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	first := f.start(t, sandbox.TeamAcme)
	f.expire(t)
	second := f.start(t, sandbox.TeamAcme)
	if second.Attempt != first.Attempt+1 {
		t.Fatalf("attempt = %d, want %d", second.Attempt, first.Attempt+1)
	}
	if n, err := f.sweeper.Sweep(t.Context()); err != nil || n != 0 {
		t.Fatalf("Sweep = %d, %v; want 0", n, err)
	}
	if n := f.events(t, models.EventDeadlineFired); n != 1 {
		t.Fatalf("deadline_fired events = %d, want 1", n)
	}
	if n := f.events(t, models.EventConnectStarted); n != 2 {
		t.Fatalf("connect_started events = %d, want 2", n)
	}
}

// Support fails whichever attempt is connecting (attempt 0); the event names
// the support actor, the reconcile is queued, and a second Fail is stale.
func TestFailCurrentAttemptBySupport(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.start(t, sandbox.TeamAcme)
	sam, err := models.UpsertUser(t.Context(), f.db, "1003", "Sam Support", "sam@example.com")
	if err != nil {
		t.Fatal(err)
	}
	fail := Failure{AppID: f.app.ID, Message: "Marked failed by support.", ActorID: sam.ID, Event: models.EventSupportFailed, EventDetail: "stuck"}
	if err := f.conns.Fail(t.Context(), fail); err != nil {
		t.Fatal(err)
	}
	if c := f.connection(t); c.State != models.StateFailed || c.Error != fail.Message {
		t.Fatalf("connection = %s %q, want failed %q", c.State, c.Error, fail.Message)
	}
	if n := f.count(t, `SELECT count(*) FROM events WHERE app_id = $1 AND kind = $2 AND actor_id = $3 AND detail = 'stuck'`,
		f.app.ID, models.EventSupportFailed, sam.ID); n != 1 {
		t.Fatalf("support events by Sam = %d, want 1", n)
	}
	if n := f.queued(t, ReconcileArgs{}.Kind()); n != 1 {
		t.Fatalf("reconcile jobs = %d, want 1", n)
	}
	if err := f.conns.Fail(t.Context(), fail); !errors.Is(err, models.ErrStale) {
		t.Fatalf("second Fail = %v, want stale", err)
	}
}

// Each transition records its event in its own transaction: when the event
// cannot be written (an actor that does not exist breaks its foreign key),
// the state change is rolled back and nothing is queued.
func TestTransitionRolledBackWhenEventFails(t *testing.T) {
	t.Parallel()
	ghost := uuid.NewString()
	f := setup(t)

	if _, _, err := f.conns.Start(t.Context(), Start{ActorID: ghost, AppID: f.app.ID, Team: sandbox.TeamAcme, SealedToken: f.sealed}); err == nil {
		t.Fatal("Start with an unknown actor succeeded")
	}
	if _, err := models.ConnectionByApp(t.Context(), f.db, f.app.ID); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("connection after a failed Start: %v, want none", err)
	}
	if n := f.queued(t, ProvisionArgs{}.Kind()); n != 0 {
		t.Fatalf("provision jobs after a failed Start = %d", n)
	}

	f.start(t, sandbox.TeamAcme)
	if err := f.conns.Fail(t.Context(), Failure{AppID: f.app.ID, Message: "x", ActorID: ghost}); err == nil || errors.Is(err, models.ErrStale) {
		t.Fatalf("Fail with an unknown actor = %v, want the event's error", err)
	}
	if c := f.connection(t); c.State != models.StateConnecting {
		t.Fatalf("connection after a failed Fail = %s, want connecting", c.State)
	}
	if _, err := f.conns.Disconnect(t.Context(), ghost, f.app.ID); err == nil {
		t.Fatal("Disconnect with an unknown actor succeeded")
	}
	if c := f.connection(t); c.State != models.StateConnecting {
		t.Fatalf("connection after a failed Disconnect = %s, want connecting", c.State)
	}
	if n := f.queued(t, ReconcileArgs{}.Kind()); n != 0 {
		t.Fatalf("reconcile jobs after failed transitions = %d", n)
	}
	if n := f.count(t, `SELECT count(*) FROM events WHERE app_id = $1 AND kind IN ($2, $3)`, f.app.ID, models.EventConnectFailed, models.EventDisconnected); n != 0 {
		t.Fatalf("events of failed transitions = %d", n)
	}
}

// A disconnect while connecting queues the reconcile; one of a connected app
// does not; one of an app without a connection is not found.
func TestDisconnect(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.connect(t, sandbox.TeamAcme)
	dropped, err := f.conns.Disconnect(t.Context(), f.user.ID, f.app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dropped.ProjectID != c.ProjectID {
		t.Fatalf("Disconnect returned project %d, want %d", dropped.ProjectID, c.ProjectID)
	}
	if n := f.queued(t, ReconcileArgs{}.Kind()); n != 0 {
		t.Fatalf("reconcile jobs after disconnecting a connected app = %d, want 0", n)
	}
	if !f.live(sandbox.TeamAcme, c.ProjectID) {
		t.Fatal("Disconnect deleted the Convex project")
	}
	if n := f.count(t, `SELECT count(*) FROM events WHERE app_id = $1 AND kind = $2 AND detail = $3`,
		f.app.ID, models.EventDisconnected, "team acme, project "+c.ProjectSlug); n != 1 {
		t.Fatalf("disconnected events = %d, want 1", n)
	}
	if _, err := f.conns.Disconnect(t.Context(), f.user.ID, f.app.ID); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("second Disconnect = %v, want not found", err)
	}

	f.start(t, sandbox.TeamAcme)
	if _, err := f.conns.Disconnect(t.Context(), f.user.ID, f.app.ID); err != nil {
		t.Fatal(err)
	}
	if n := f.queued(t, ReconcileArgs{}.Kind()); n != 1 {
		t.Fatalf("reconcile jobs after disconnecting while connecting = %d, want 1", n)
	}
}

// Complete and Step of an attempt that moved on are stale.
func TestCompleteStaleAttempt(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.start(t, sandbox.TeamAcme)
	work, err := models.ConnectionForWork(t.Context(), f.db, f.app.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.expire(t)
	if err := f.conns.Step(t.Context(), f.db, f.app.ID, c.Attempt, models.StepCreating); !errors.Is(err, models.ErrStale) {
		t.Fatalf("Step past the deadline = %v, want stale", err)
	}
	a, _ := f.recordedProject(t, sandbox.TeamAcme)
	if err := f.conns.Complete(t.Context(), work, models.ConnectedProject{ProjectID: a.ProjectID}, a.ID); !errors.Is(err, models.ErrStale) {
		t.Fatalf("Complete past the deadline = %v, want stale", err)
	}
	if s := f.attemptStatus(t, a.ID); s != models.AttemptCreated {
		t.Fatalf("attempt status after a stale Complete = %s, want created", s)
	}
	if n := f.events(t, models.EventConnectSucceeded); n != 0 {
		t.Fatalf("connect_succeeded events = %d, want 0", n)
	}
}

// Transitions that race on one app take its locks in one order (the app's
// row, then its connection's), so none of them dies in a deadlock: a Fail or
// a Disconnect racing a new Connect either wins or finds itself stale.
func TestRacingTransitionsNeverDeadlock(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for i := range 40 {
		c := f.start(t, sandbox.TeamAcme)
		if _, err := f.db.Exec(`UPDATE connections SET deadline_at = now() - interval '1 second' WHERE app_id = $1`, f.app.ID); err != nil {
			t.Fatal(err)
		}
		var other func() error
		if i%2 == 0 {
			other = func() error {
				return f.conns.Fail(t.Context(), Failure{AppID: f.app.ID, Attempt: c.Attempt, Message: models.DeadlineMessage, Event: models.EventDeadlineFired})
			}
		} else {
			other = func() error {
				_, err := f.conns.Disconnect(t.Context(), f.user.ID, f.app.ID)
				return err
			}
		}
		errs := make(chan error, 2)
		go func() { errs <- other() }()
		go func() {
			_, _, err := f.conns.Start(t.Context(), Start{ActorID: f.user.ID, AppID: f.app.ID, Team: sandbox.TeamAcme, SealedToken: f.sealed})
			errs <- err
		}()
		for range 2 {
			if err := <-errs; err != nil && !errors.Is(err, models.ErrStale) && !errors.Is(err, models.ErrNotFound) {
				t.Fatalf("round %d: %v", i, err)
			}
		}
		// End the round with no attempt in flight.
		if _, err := f.db.Exec(`DELETE FROM connections WHERE app_id = $1`, f.app.ID); err != nil {
			t.Fatal(err)
		}
	}
}
