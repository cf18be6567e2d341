package jobs

import (
	"testing"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"chefdeploy/models"
	"chefdeploy/sandbox"
)

func (f *fixture) attemptStatus(t *testing.T, id int64) string {
	t.Helper()
	a, err := models.AttemptByID(t.Context(), f.db, id)
	if err != nil {
		t.Fatal(err)
	}
	return a.Status
}

// A project recorded as created and not in use is deleted.
func TestReconcileDeletesCreatedUnusedProject(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, p := f.recordedProject(t, sandbox.TeamAcme)
	mustWork(t, f, f.reconcile(), ReconcileArgs{AppID: f.app.ID}, river.EventKindJobCompleted)
	if f.live(sandbox.TeamAcme, p.ProjectID) {
		t.Fatal("the unused project is still live")
	}
	if s := f.attemptStatus(t, a.ID); s != models.AttemptDeleted {
		t.Fatalf("attempt status = %s, want deleted", s)
	}
}

// A project whose creation was never recorded is found by listing the team
// and deleted; a project in use on the same team is left alone.
func TestReconcileFindsUnrecordedProject(t *testing.T) {
	t.Parallel()
	f := setup(t)
	inUse := f.connect(t, sandbox.TeamAcme)
	f.exec(t, `UPDATE connections SET state = 'failed' WHERE app_id = $1`, f.app.ID)
	id, err := models.RecordAttempt(t.Context(), f.db, f.app.ID, f.user.ID, 2, sandbox.TeamAcme, f.app.Name)
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := f.convex.CreateProject(t.Context(), f.token, sandbox.TeamAcme, f.app.Name)
	if err != nil {
		t.Fatal(err)
	}
	mustWork(t, f, f.reconcile(), ReconcileArgs{AppID: f.app.ID}, river.EventKindJobCompleted)
	if f.live(sandbox.TeamAcme, orphan.ProjectID) {
		t.Fatal("the unrecorded project is still live")
	}
	if !f.live(sandbox.TeamAcme, inUse.ProjectID) {
		t.Fatal("the reconcile deleted the project in use")
	}
	if s := f.attemptStatus(t, id); s != models.AttemptDeleted {
		t.Fatalf("attempt status = %s, want deleted", s)
	}
}

// Within the grace period a pending attempt with nothing to find stays
// pending and the job snoozes; after it, the attempt is settled as not_found.
func TestReconcilePendingGrace(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id, err := models.RecordAttempt(t.Context(), f.db, f.app.ID, f.user.ID, 1, sandbox.TeamAcme, f.app.Name)
	if err != nil {
		t.Fatal(err)
	}
	mustWork(t, f, f.reconcile(), ReconcileArgs{AppID: f.app.ID}, river.EventKindJobSnoozed)
	if s := f.attemptStatus(t, id); s != models.AttemptPending {
		t.Fatalf("attempt status within the grace period = %s, want pending", s)
	}

	f.exec(t, `UPDATE project_attempts SET created_at = now() - $2 * interval '1 second' WHERE id = $1`,
		id, (f.cfg.ConnectionDeadline+pendingGrace).Seconds()+1)
	mustWork(t, f, f.reconcile(), ReconcileArgs{AppID: f.app.ID}, river.EventKindJobCompleted)
	if s := f.attemptStatus(t, id); s != models.AttemptNotFound {
		t.Fatalf("attempt status after the grace period = %s, want not_found", s)
	}
	if n := f.sb.Calls("delete_project", sandbox.TeamAcme); n != 0 {
		t.Fatalf("delete_project calls = %d, want 0", n)
	}
}

// While an attempt is in flight the reconcile leaves its projects alone.
func TestReconcileWaitsForAttemptInFlight(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.start(t, sandbox.TeamAcme)
	a, p := f.recordedProject(t, sandbox.TeamAcme)
	mustWork(t, f, f.reconcile(), ReconcileArgs{AppID: f.app.ID}, river.EventKindJobSnoozed)
	if !f.live(sandbox.TeamAcme, p.ProjectID) || f.attemptStatus(t, a.ID) != models.AttemptCreated {
		t.Fatal("the reconcile settled an attempt while one was in flight")
	}
	if n := f.sb.Calls("list_projects", sandbox.TeamAcme) + f.sb.Calls("delete_project", sandbox.TeamAcme); n != 0 {
		t.Fatalf("the reconcile called Convex %d times", n)
	}
}

// A disconnect while connecting queues the reconcile, which works without a
// connection row, with the owner's token.
func TestReconcileAfterDisconnect(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.start(t, sandbox.TeamAcme)
	a, p := f.recordedProject(t, sandbox.TeamAcme)
	if _, err := f.conns.Disconnect(t.Context(), f.user.ID, f.app.ID); err != nil {
		t.Fatal(err)
	}
	if n := f.queued(t, ReconcileArgs{}.Kind()); n != 1 {
		t.Fatalf("reconcile jobs after a disconnect while connecting = %d, want 1", n)
	}
	mustWork(t, f, f.reconcile(), ReconcileArgs{AppID: f.app.ID}, river.EventKindJobCompleted)
	if f.live(sandbox.TeamAcme, p.ProjectID) || f.attemptStatus(t, a.ID) != models.AttemptDeleted {
		t.Fatal("the project of the disconnected attempt was not deleted")
	}
}

// A deleted app's attempts keep its id: the reconcile its delete queued
// deletes their unused projects with the token of the user who made them.
func TestReconcileAppGone(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, p := f.recordedProject(t, sandbox.TeamAcme)
	if err := models.DeleteApp(t.Context(), f.db, f.user.ID, f.app.ID); err != nil {
		t.Fatal(err)
	}
	mustWork(t, f, f.reconcile(), ReconcileArgs{AppID: f.app.ID}, river.EventKindJobCompleted)
	if f.live(sandbox.TeamAcme, p.ProjectID) || f.attemptStatus(t, a.ID) != models.AttemptDeleted {
		t.Fatal("the unused project of a deleted app was left on its team")
	}
}

// An app that never made an attempt leaves nothing to act on: a no-op.
func TestReconcileUnknownApp(t *testing.T) {
	t.Parallel()
	f := setup(t)
	mustWork(t, f, f.reconcile(), ReconcileArgs{AppID: uuid.NewString()}, river.EventKindJobCompleted)
	if n := f.sb.Calls("list_projects", sandbox.TeamAcme) + f.sb.Calls("delete_project", sandbox.TeamAcme); n != 0 {
		t.Fatalf("a reconcile for an unknown app called Convex %d times", n)
	}
}

// A project already gone on Convex (404 on delete) counts as deleted.
func TestReconcileProjectAlreadyGone(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, p := f.recordedProject(t, sandbox.TeamAcme)
	if err := f.convex.DeleteProject(t.Context(), f.token, p.ProjectID); err != nil {
		t.Fatal(err)
	}
	mustWork(t, f, f.reconcile(), ReconcileArgs{AppID: f.app.ID}, river.EventKindJobCompleted)
	if s := f.attemptStatus(t, a.ID); s != models.AttemptDeleted {
		t.Fatalf("attempt status = %s, want deleted", s)
	}
}

// An owner token that cannot be opened cancels the job: no retry can help.
func TestReconcileUnreadableTokenCancels(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, _ := f.recordedProject(t, sandbox.TeamAcme)
	f.exec(t, `UPDATE users SET convex_token = 'not-sealed' WHERE id = $1`, f.user.ID)
	mustWork(t, f, f.reconcile(), ReconcileArgs{AppID: f.app.ID}, river.EventKindJobCancelled)
	if s := f.attemptStatus(t, a.ID); s != models.AttemptCreated {
		t.Fatalf("attempt status = %s, want created", s)
	}
}
