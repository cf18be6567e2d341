package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"chefdeploy/convex"
	"chefdeploy/models"
)

// ProvisionArgs starts provisioning one attempt of an app's connection.
type ProvisionArgs struct {
	AppID   string `json:"app_id"`
	Attempt int    `json:"attempt"`
}

// Kind names the job in River's table.
func (ProvisionArgs) Kind() string { return "provision_connection" }

// InsertOpts: a retry re-reads the connection, so a retried job is harmless;
// uniqueness makes a duplicate insert a no-op.
func (ProvisionArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// ProvisionWorker creates the Convex project, obtains its deploy key, stores
// it sealed, sets up the deployment's environment and marks the connection
// connected, or failed with a message a person can act on, all before the
// connection's deadline.
type ProvisionWorker struct {
	river.WorkerDefaults[ProvisionArgs]
	p *provisioner
}

// provisioner is shared by the workers.
type provisioner struct {
	Deps
	metrics *metrics
	keys    *keyPool
}

var errStaleJob = errors.New("the connection moved on; nothing to do")

// Work runs one attempt.
func (w *ProvisionWorker) Work(ctx context.Context, job *river.Job[ProvisionArgs]) error {
	p := w.p
	args := job.Args
	work, err := models.ConnectionForWork(ctx, p.DB, args.AppID)
	if errors.Is(err, models.ErrNotFound) {
		return river.JobCancel(errStaleJob)
	}
	if err != nil {
		return err
	}
	if work.State != models.StateConnecting || work.Attempt != args.Attempt {
		return river.JobCancel(errStaleJob)
	}
	if !time.Now().Before(work.DeadlineAt) {
		return p.fail(ctx, work.Connection, models.DeadlineMessage, "deadline")
	}
	token, err := p.Config.Credentials.OpenString(work.OwnerToken, models.UserTokenPurpose(work.OwnerID))
	if err != nil {
		return p.fail(ctx, work.Connection, "Your Convex sign-in has expired. Sign in again.", "failed")
	}

	attemptCtx, cancel := context.WithDeadline(ctx, work.DeadlineAt)
	defer cancel()
	project, attemptID, err := p.provision(attemptCtx, work, token)
	switch {
	case err == nil:
		return p.complete(ctx, work, project, attemptID)
	case errors.Is(err, models.ErrStale):
		// A deadline, a disconnect or a newer attempt got there first.
		return river.JobCancel(errStaleJob)
	case ctx.Err() != nil:
		// The worker itself is stopping: leave the attempt as it is. A retry
		// on another replica, or the deadline job, finishes it.
		return ctx.Err()
	}
	p.Logger.Info("connection failed", "app_id", work.AppID, "attempt", work.Attempt, "err", err)
	outcome := "failed"
	if errors.Is(attemptCtx.Err(), context.DeadlineExceeded) {
		// The attempt ran out of time: that is the deadline firing.
		outcome = "deadline"
	}
	return p.fail(ctx, work.Connection, userMessage(err), outcome)
}

// userMessage is the sentence the person reads for a provisioning error.
func userMessage(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return models.DeadlineMessage
	}
	return convex.UserMessage(err)
}

// provision does the steps of one attempt; every step is guarded, so a
// newer state stops it with ErrStale.
func (p *provisioner) provision(ctx context.Context, work models.ConnectionWork, token string) (out models.ConnectedProject, attemptID int64, err error) {
	appID, attempt, team := work.AppID, work.Attempt, work.TeamSlug

	if err := models.SetStep(ctx, p.DB, appID, attempt, models.StepCreating); err != nil {
		return out, attemptID, err
	}
	reuse, err := p.settleAttempts(ctx, appID, token, team)
	if err != nil {
		return out, 0, err
	}
	if reuse != nil {
		attemptID = reuse.ID
		out = models.ConnectedProject{
			ProjectID: reuse.ProjectID, ProjectSlug: reuse.ProjectSlug, TeamSlug: team,
			DeploymentName: reuse.DeploymentName, DeploymentURL: reuse.DeploymentURL, ProjectsRemaining: -1,
		}
	} else {
		// Written down before the call: if we die before reading the answer,
		// the next attempt finds the project by listing.
		if attemptID, err = models.RecordAttempt(ctx, p.DB, appID, work.OwnerID, attempt, team, work.AppName); err != nil {
			return out, attemptID, err
		}
		created, cerr := p.Convex.CreateProject(ctx, token, team, work.AppName)
		if cerr != nil {
			return out, attemptID, cerr
		}
		if h := p.Hooks.AfterCreateProject; h != nil {
			h(ctx, appID)
		}
		if created.TeamSlug == "" {
			created.TeamSlug = team
		}
		if err := models.MarkAttemptCreated(ctx, p.DB, attemptID, created.ProjectID, created.ProjectSlug, created.DeploymentName, created.ProdURL); err != nil {
			return out, attemptID, err
		}
		out = models.ConnectedProject{
			ProjectID: created.ProjectID, ProjectSlug: created.ProjectSlug, TeamSlug: created.TeamSlug,
			DeploymentName: created.DeploymentName, DeploymentURL: created.ProdURL, ProjectsRemaining: created.ProjectsRemaining,
		}
		if created.ProjectsRemaining >= 0 && created.ProjectsRemaining <= 2 {
			out.Warning = fmt.Sprintf("You have %d projects remaining on this team.", created.ProjectsRemaining)
		}
	}
	if h := p.Hooks.AfterProjectRecorded; h != nil {
		h(ctx, appID)
	}

	if err := models.SetStep(ctx, p.DB, appID, attempt, models.StepAuthorizing); err != nil {
		return out, attemptID, err
	}
	accessToken, err := p.Convex.Authorize(ctx, token, out.ProjectID, convex.OAuthApp{
		ClientID: p.Config.OAuthClientID, ClientSecret: p.Config.OAuthClientSecret,
	})
	if err != nil {
		return out, attemptID, err
	}
	deployKey := convex.DeployKey(out.TeamSlug, out.ProjectSlug, accessToken)

	if err := models.SetStep(ctx, p.DB, appID, attempt, models.StepEnvironment); err != nil {
		return out, attemptID, err
	}
	if err := p.configureEnvironment(ctx, out.DeploymentURL, deployKey, p.Config.SiteLink(out.DeploymentName)); err != nil {
		return out, attemptID, err
	}
	if out.SealedDeployKey, err = p.Config.Credentials.SealString(deployKey, models.DeployKeyPurpose(appID)); err != nil {
		return out, attemptID, err
	}
	return out, attemptID, nil
}

// complete stores the connected project, if the attempt is still current.
func (p *provisioner) complete(ctx context.Context, work models.ConnectionWork, project models.ConnectedProject, attemptID int64) error {
	tx, err := p.DB.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	err = models.CompleteConnection(ctx, tx, work.AppID, work.Attempt, project)
	if errors.Is(err, models.ErrStale) {
		// Too late: the project stays recorded as created, for the next attempt.
		return river.JobCancel(errStaleJob)
	}
	if err != nil {
		return err
	}
	if err := models.SetAttemptStatus(ctx, tx, attemptID, models.AttemptInUse); err != nil {
		return err
	}
	detail := fmt.Sprintf("team %s, project %s, deployment %s", project.TeamSlug, project.ProjectSlug, project.DeploymentName)
	if err := models.RecordEvent(ctx, tx, work.OwnerID, work.AppID, models.EventConnectSucceeded, detail); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	p.metrics.connected(work.StartedAt)
	p.cancelDeadlineJob(ctx, work.DeadlineJobID)
	return nil
}

// fail moves the attempt to failed and settles what it left behind.
func (p *provisioner) fail(ctx context.Context, c models.Connection, message, outcome string) error {
	// Recording the failure must not depend on a context that just expired.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := models.FailConnection(ctx, p.DB, c.AppID, c.Attempt, message)
	if errors.Is(err, models.ErrStale) {
		return river.JobCancel(errStaleJob)
	}
	if err != nil {
		return err
	}
	kind := models.EventConnectFailed
	if outcome == "deadline" {
		kind = models.EventDeadlineFired
	}
	models.RecordEvent(ctx, p.DB, "", c.AppID, kind, message)
	p.metrics.failed(outcome)
	p.cancelDeadlineJob(ctx, c.DeadlineJobID)
	p.enqueueReconcile(ctx, c.AppID)
	return nil
}

func (p *provisioner) cancelDeadlineJob(ctx context.Context, jobID int64) {
	if jobID == 0 {
		return
	}
	client, err := river.ClientFromContextSafely[*sql.Tx](ctx)
	if err != nil {
		return
	}
	if _, err := client.JobCancel(ctx, jobID); err != nil {
		p.Logger.Warn("cancelling deadline job", "job_id", jobID, "err", err)
	}
}

func (p *provisioner) enqueueReconcile(ctx context.Context, appID string) {
	client, err := river.ClientFromContextSafely[*sql.Tx](ctx)
	if err != nil {
		return
	}
	if _, err := client.Insert(ctx, ReconcileArgs{AppID: appID}, nil); err != nil {
		p.Logger.Warn("enqueueing project reconcile", "app_id", appID, "err", err)
	}
}
