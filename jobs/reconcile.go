package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"chefdeploy/convex"
	"chefdeploy/models"
)

// ReconcileArgs settles the projects an app's attempts left unused.
type ReconcileArgs struct {
	AppID string `json:"app_id"`
}

// Kind names the job in River's table.
func (ReconcileArgs) Kind() string { return "reconcile_projects" }

// InsertOpts: not unique. River's uniqueness always counts running jobs, and
// a reconcile asked for while one runs must not be lost; the settle lock runs
// an app's reconciles one after the other, and one with nothing open to
// settle makes no call to Convex.
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 8}
}

// ReconcileWorker deletes the projects an app's attempts created and did not
// end up using: those recorded as created, and those whose create_project
// answer was never recorded (a crash, a malformed answer, a timeout), found
// by listing the team. It is queued by every failure and by a disconnect
// while connecting; it is an ordinary job, so any replica runs it at once.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	deps *workerDeps
}

// reconcileTimeout bounds one reconcile, Convex calls included.
const reconcileTimeout = 30 * time.Second

// Timeout keeps River's own bound in step with ours.
func (w *ReconcileWorker) Timeout(*river.Job[ReconcileArgs]) time.Duration {
	return reconcileTimeout + 5*time.Second
}

// errNotYetSettled says a pending attempt's project may still appear: its
// create_project may still be finishing on Convex's side.
var errNotYetSettled = errors.New("a pending attempt's project may still appear")

// Work settles the app's open attempts; while an attempt is in flight it
// waits for that attempt's deadline.
func (w *ReconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	p := w.deps
	owner, err := models.OwnerTokenByApp(ctx, p.DB, job.Args.AppID)
	if errors.Is(err, models.ErrNotFound) {
		return nil // the app is gone; so is what we could act with
	}
	if err != nil {
		return err
	}
	creds := p.owner(owner.OwnerID)
	ctx, cancel := context.WithTimeout(ctx, reconcileTimeout)
	defer cancel()
	notYet, inFlightUntil := false, time.Time{}
	err = p.withSettleLock(ctx, job.Args.AppID, func(tx *sqlx.Tx) error {
		c, err := models.ConnectionByApp(ctx, tx, job.Args.AppID)
		if err == nil && c.State == models.StateConnecting && time.Now().Before(c.DeadlineAt) {
			inFlightUntil = c.DeadlineAt
			return nil
		}
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return err
		}
		_, err = p.settleAttempts(ctx, tx, job.Args.AppID, creds, "", false)
		if errors.Is(err, errNotYetSettled) {
			// What was settled is committed; the rest is looked at again.
			notYet = true
			return nil
		}
		return err
	})
	switch {
	case err == nil && !inFlightUntil.IsZero():
		// The attempt in flight settles what it finds when it starts; this
		// reconcile looks again once it has ended, for anything recorded
		// after that (an older worker's late answer).
		return river.JobSnooze(time.Until(inFlightUntil) + time.Second)
	case err == nil && notYet:
		return river.JobSnooze(5 * time.Second)
	}
	if _, ok := noCredentials(err); ok {
		// Nothing to act with: a retry would find nothing either.
		return river.JobCancel(fmt.Errorf("the owner's Convex credentials cannot be used: %w", err))
	}
	return err
}

// withSettleLock runs fn in a transaction holding the app's settle lock:
// provisioning (settling old attempts and recording its own) and reconciles
// of one app never overlap, on any replica. fn does its database work in tx,
// so it needs no second connection while it holds one.
func (p *workerDeps) withSettleLock(ctx context.Context, appID string, fn func(tx *sqlx.Tx) error) error {
	return models.InTx(ctx, p.DB, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('settle ' || $1, 0))`, appID); err != nil {
			return err
		}
		return fn(tx)
	})
}

// settleAttempts settles the app's open attempts. Pending ones are looked up
// with list projects and deleted (their deployment is unknown, so they cannot
// be used). With keep, the newest created one on team is returned for reuse
// by the attempt that is starting; every other created one is deleted.
func (p *workerDeps) settleAttempts(ctx context.Context, tx *sqlx.Tx, appID string, owner *ownerCreds, team string, keep bool) (*models.ProjectAttempt, error) {
	open, err := models.OpenAttempts(ctx, tx, appID)
	if err != nil || len(open) == 0 {
		return nil, err
	}
	var reuse *models.ProjectAttempt
	var notYet error
	for i := range open {
		a := &open[i]
		switch {
		case keep && a.Status == models.AttemptCreated && a.TeamSlug == team:
			if reuse != nil {
				// An older unused project on the same team: one is enough.
				if err := p.deleteProject(ctx, tx, owner, reuse); err != nil {
					return nil, err
				}
			}
			reuse = a
		case a.Status == models.AttemptCreated:
			if err := p.deleteProject(ctx, tx, owner, a); err != nil {
				return nil, err
			}
		case a.Status == models.AttemptPending:
			err := p.settlePending(ctx, tx, owner, a)
			if errors.Is(err, errNotYetSettled) {
				notYet = err
				continue
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return reuse, notYet
}

func (p *workerDeps) deleteProject(ctx context.Context, tx *sqlx.Tx, owner *ownerCreds, a *models.ProjectAttempt) error {
	creds, _, err := owner.forTeam(ctx, a.TeamSlug)
	if err != nil {
		return err
	}
	if err := p.Backend.DeleteProject(ctx, creds, a.ProjectID); err != nil && !projectGone(err) {
		return err
	}
	p.Logger.Info("deleted an unused Convex project", "app_id", a.AppID.String, "team", a.TeamSlug, "project_id", a.ProjectID)
	return models.SetAttemptStatus(ctx, tx, a.ID, models.AttemptDeleted)
}

// settlePending finds the project a pending attempt may have created: one of
// the attempt's name on its team, created while the attempt could have been
// running, and recorded by no attempt (so never a project in use). Not finding
// it is final only once Convex has had time to finish the create.
func (p *workerDeps) settlePending(ctx context.Context, tx *sqlx.Tx, owner *ownerCreds, a *models.ProjectAttempt) error {
	known, err := models.KnownProjectIDs(ctx, tx, a.TeamSlug)
	if err != nil {
		return err
	}
	creds, team, err := owner.forTeam(ctx, a.TeamSlug)
	if err != nil {
		return err
	}
	projects, err := p.Backend.ListProjects(ctx, creds, team)
	if err != nil {
		return err
	}
	// A few seconds of slack for clocks that disagree.
	from, until := a.CreatedAt.Add(-5*time.Second), a.CreatedAt.Add(p.Config.ConnectionDeadline+time.Minute)
	for _, pr := range projects {
		if pr.Name != a.ProjectName || known[pr.ID] || pr.CreateTime.Before(from) || pr.CreateTime.After(until) {
			continue
		}
		if err := p.Backend.DeleteProject(ctx, creds, pr.ID); err != nil && !projectGone(err) {
			return err
		}
		known[pr.ID] = true
		p.Logger.Info("deleted a Convex project whose creation was never recorded", "app_id", a.AppID.String, "team", a.TeamSlug, "project_id", pr.ID)
		return models.SetAttemptStatus(ctx, tx, a.ID, models.AttemptDeleted)
	}
	if time.Since(a.CreatedAt) < p.Config.ConnectionDeadline+pendingGrace {
		return errNotYetSettled
	}
	return models.SetAttemptStatus(ctx, tx, a.ID, models.AttemptNotFound)
}

// pendingGrace is how long after an attempt's deadline a create_project that
// its caller gave up on may still complete on Convex's side.
const pendingGrace = 10 * time.Second

// projectGone says a delete found the project already gone, which is what
// the delete wanted.
func projectGone(err error) bool {
	var ce *convex.Error
	return errors.As(err, &ce) && ce.Status == http.StatusNotFound
}
