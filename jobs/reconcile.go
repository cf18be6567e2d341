package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"chefdeploy/models"
)

// ReconcileArgs settles the projects an app's failed attempts left behind.
type ReconcileArgs struct {
	AppID string `json:"app_id"`
}

// Kind names the job in River's table.
func (ReconcileArgs) Kind() string { return "reconcile_projects" }

// InsertOpts: one pending reconcile per app is enough.
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}
}

// ReconcileWorker finds projects whose create_project answer was never
// recorded (a crash, a malformed answer, a timeout) and deletes them, so they
// do not eat the team's quota. Projects that were recorded stay for reuse.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	p *provisioner
}

// Work settles the app's pending attempts, unless an attempt is running: that
// one settles them itself.
func (w *ReconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	work, err := models.ConnectionForWork(ctx, w.p.DB, job.Args.AppID)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if work.State == models.StateConnecting && time.Now().Before(work.DeadlineAt) {
		return nil
	}
	token, err := w.p.Config.Credentials.OpenString(work.OwnerToken, models.UserTokenPurpose(work.OwnerID))
	if err != nil {
		return river.JobCancel(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = w.p.settleAttempts(ctx, job.Args.AppID, token, work.TeamSlug)
	return err
}

// settleAttempts looks at the app's unsettled attempts before a new one
// creates a project. Pending ones are looked up with list projects and deleted
// (their deployment is unknown, so they cannot be used); created ones on team
// are returned for reuse, the newest first; created ones on other teams are
// deleted.
func (p *provisioner) settleAttempts(ctx context.Context, appID, token, team string) (*models.ProjectAttempt, error) {
	open, err := models.OpenAttempts(ctx, p.DB, appID)
	if err != nil || len(open) == 0 {
		return nil, err
	}
	var reuse *models.ProjectAttempt
	for i := range open {
		a := &open[i]
		switch {
		case a.Status == models.AttemptCreated && a.TeamSlug == team:
			if reuse != nil {
				// An older unused project on the same team: one is enough.
				if err := p.deleteProject(ctx, token, reuse); err != nil {
					return nil, err
				}
			}
			reuse = a
		case a.Status == models.AttemptCreated:
			if err := p.deleteProject(ctx, token, a); err != nil {
				return nil, err
			}
		case a.Status == models.AttemptPending:
			if err := p.settlePending(ctx, token, a); err != nil {
				return nil, err
			}
		}
	}
	return reuse, nil
}

func (p *provisioner) deleteProject(ctx context.Context, token string, a *models.ProjectAttempt) error {
	if err := p.Convex.DeleteProject(ctx, token, a.ProjectID); err != nil {
		return err
	}
	p.Logger.Info("deleted an unused Convex project", "app_id", a.AppID.String, "team", a.TeamSlug, "project_id", a.ProjectID)
	return models.SetAttemptStatus(ctx, p.DB, a.ID, models.AttemptDeleted)
}

// settlePending finds the project a pending attempt may have created: one of
// the attempt's name on its team, created while the attempt could have been
// running, and recorded by no attempt (so never a project in use).
func (p *provisioner) settlePending(ctx context.Context, token string, a *models.ProjectAttempt) error {
	known, err := models.KnownProjectIDs(ctx, p.DB, a.TeamSlug)
	if err != nil {
		return err
	}
	projects, err := p.Convex.ListProjects(ctx, token, a.TeamSlug)
	if err != nil {
		return err
	}
	// A few seconds of slack for clocks that disagree.
	from, until := a.CreatedAt.Add(-5*time.Second), a.CreatedAt.Add(p.Config.ConnectionDeadline+time.Minute)
	for _, pr := range projects {
		if pr.Name != a.ProjectName || known[pr.ID] || pr.CreateTime.Before(from) || pr.CreateTime.After(until) {
			continue
		}
		if err := p.Convex.DeleteProject(ctx, token, pr.ID); err != nil {
			return err
		}
		known[pr.ID] = true
		p.Logger.Info("deleted a Convex project whose creation was never recorded", "app_id", a.AppID.String, "team", a.TeamSlug, "project_id", pr.ID)
		return models.SetAttemptStatus(ctx, p.DB, a.ID, models.AttemptDeleted)
	}
	return models.SetAttemptStatus(ctx, p.DB, a.ID, models.AttemptNotFound)
}
