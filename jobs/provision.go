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
	deps *workerDeps
}

// workerDeps is what every worker shares: the program's dependencies, the
// owner of connection transitions, metrics and the source of Convex Auth
// keys.
type workerDeps struct {
	Deps
	connections *Connections
	metrics     *metrics
	keys        *authKeySource
}

var errStaleJob = errors.New("the connection moved on; nothing to do")

// Work runs one attempt.
func (w *ProvisionWorker) Work(ctx context.Context, job *river.Job[ProvisionArgs]) error {
	p := w.deps
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
	owner := p.owner(work.OwnerID)
	if _, _, err := owner.forTeam(ctx, work.TeamSlug); err != nil {
		if nc, ok := noCredentials(err); ok {
			return p.fail(ctx, work.Connection, nc.Message, "failed")
		}
		return err
	}

	attemptCtx, cancel := context.WithDeadline(ctx, work.DeadlineAt)
	defer cancel()
	project, attemptID, leftover, err := p.provision(attemptCtx, work, owner)
	switch {
	case err == nil:
		return p.complete(ctx, work, project, attemptID, leftover)
	case errors.Is(err, models.ErrStale):
		// A deadline, a disconnect or a newer attempt got there first.
		return river.JobCancel(errStaleJob)
	case ctx.Err() != nil:
		// The worker itself is stopping: leave the attempt as it is. A retry
		// on another replica, or the deadline sweeper, finishes it.
		return ctx.Err()
	}
	p.Logger.Info("connection failed", "app_id", work.AppID, "attempt", work.Attempt, "err", err)
	if convex.IsGrantRevoked(err) {
		// Not retried: the owner must authorize the team again, and the
		// team selector says so from now on.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if rerr := owner.revoked(rctx, work.TeamSlug); rerr != nil {
			p.Logger.Warn("marking a team grant revoked", "app_id", work.AppID, "err", rerr)
		}
		cancel()
	}
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
	if nc, ok := noCredentials(err); ok {
		return nc.Message
	}
	return convex.UserMessage(err)
}

// provision does the steps of one attempt; every step is guarded, so a
// newer state stops it with ErrStale.
func (p *workerDeps) provision(ctx context.Context, work models.ConnectionWork, owner *ownerCreds) (out models.ConnectedProject, attemptID int64, leftover bool, err error) {
	appID, attempt, team := work.AppID, work.Attempt, work.TeamSlug
	creds, convexTeam, err := owner.forTeam(ctx, team)
	if err != nil {
		return out, 0, leftover, err
	}

	if err := p.connections.Step(ctx, p.DB, appID, attempt, models.StepCreating); err != nil {
		return out, 0, leftover, err
	}
	var reuse *models.ProjectAttempt
	// Under the app's settle lock, so that a reconcile never settles the
	// attempt recorded here while it is in flight (it sees it connecting).
	err = p.withSettleLock(ctx, appID, func(tx *sqlx.Tx) error {
		var err error
		reuse, err = p.settleAttempts(ctx, tx, appID, owner, team, true)
		if errors.Is(err, errNotYetSettled) {
			// An older attempt's project may still appear: a reconcile
			// after this attempt looks again.
			leftover, err = true, nil
		}
		if err != nil || reuse != nil {
			return err
		}
		// Written down before the call: if we die before reading the answer,
		// a reconcile finds the project by listing.
		attemptID, err = models.RecordAttempt(ctx, tx, appID, work.OwnerID, attempt, team, work.AppName)
		return err
	})
	if err != nil {
		return out, 0, leftover, err
	}
	var project convex.NewProject
	if reuse != nil {
		attemptID = reuse.ID
		project = convex.NewProject{
			ProjectID: reuse.ProjectID, ProjectSlug: reuse.ProjectSlug, TeamSlug: team,
			DeploymentName: reuse.DeploymentName, DeploymentURL: reuse.DeploymentURL, ProjectsRemaining: -1,
		}
	} else {
		created, cerr := p.Backend.CreateProject(ctx, creds, convexTeam, work.AppName)
		if refused(cerr) {
			// Convex answered that it created nothing: there is nothing to
			// look for later.
			if err := models.SetAttemptStatus(context.WithoutCancel(ctx), p.DB, attemptID, models.AttemptNotFound); err != nil {
				p.Logger.Warn("settling a refused create", "app_id", appID, "err", err)
			}
		}
		if cerr != nil {
			return out, attemptID, leftover, cerr
		}
		if h := p.Hooks.AfterCreateProject; h != nil {
			h(ctx, appID)
		}
		if created.TeamSlug == "" {
			created.TeamSlug = team
		}
		err := models.MarkAttemptCreated(ctx, p.DB, attemptID, created.ProjectID, created.ProjectSlug, created.DeploymentName, created.DeploymentURL)
		if errors.Is(err, models.ErrStale) {
			// A reconcile settled the attempt before its answer was
			// recorded: the project is this worker's alone to delete.
			p.deleteUnrecorded(ctx, creds, appID, created.ProjectID)
			return out, attemptID, leftover, err
		}
		if err != nil {
			return out, attemptID, leftover, err
		}
		project = created
	}
	out = models.ConnectedProject{
		ProjectID: project.ProjectID, ProjectSlug: project.ProjectSlug, TeamSlug: project.TeamSlug,
		DeploymentName: project.DeploymentName, DeploymentURL: project.DeploymentURL, ProjectsRemaining: project.ProjectsRemaining,
	}
	if project.ProjectsRemaining >= 0 && project.ProjectsRemaining <= 2 {
		out.Warning = fmt.Sprintf("You have %d projects remaining on this team.", project.ProjectsRemaining)
	}
	if h := p.Hooks.AfterProjectRecorded; h != nil {
		h(ctx, appID)
	}

	if err := p.connections.Step(ctx, p.DB, appID, attempt, models.StepAuthorizing); err != nil {
		return out, attemptID, leftover, err
	}
	if reuse != nil && reuse.Attempt != attempt {
		// The older attempt may have made a key on this project before it
		// failed; nothing will ever record or delete it but this.
		p.deleteStaleKey(ctx, creds, appID, project.DeploymentName, convex.DeployKeyName(appID, reuse.Attempt))
	}
	key, err := p.Backend.DeployKey(ctx, creds, project, convex.DeployKeyName(appID, attempt))
	if err != nil {
		return out, attemptID, leftover, err
	}
	deployKey := key.Key
	out.DeployKeyName = key.Name

	if err := p.connections.Step(ctx, p.DB, appID, attempt, models.StepEnvironment); err != nil {
		return out, attemptID, leftover, err
	}
	if err := p.configureEnvironment(ctx, out.DeploymentURL, deployKey, p.Config.SiteLink(out.DeploymentName)); err != nil {
		return out, attemptID, leftover, err
	}
	if out.SealedDeployKey, err = p.Config.Credentials.SealString(deployKey, models.DeployKeyPurpose(appID)); err != nil {
		return out, attemptID, leftover, err
	}
	return out, attemptID, leftover, nil
}

// deleteUnrecorded deletes a project whose attempt was settled before its
// creation could be recorded; it runs on a context of its own, since the
// attempt's may just have ended.
func (p *workerDeps) deleteUnrecorded(ctx context.Context, creds convex.Credentials, appID string, projectID int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := p.Backend.DeleteProject(ctx, creds, projectID); err != nil {
		p.Logger.Warn("deleting a project created after its attempt was settled", "app_id", appID, "project_id", projectID, "err", err)
		return
	}
	p.Logger.Info("deleted a project created after its attempt was settled", "app_id", appID, "project_id", projectID)
}

// deleteStaleKey deletes a deploy key left by an older attempt, if there is
// one; a failure is logged and does not hold the connection back.
func (p *workerDeps) deleteStaleKey(ctx context.Context, creds convex.Credentials, appID, deploymentName, keyName string) {
	err := p.Backend.DeleteDeployKey(ctx, creds, deploymentName, keyName)
	if ce, ok := errors.AsType[*convex.Error](err); err == nil || ok && ce.Status == http.StatusNotFound {
		return
	}
	p.Logger.Warn("deleting an older attempt's deploy key", "app_id", appID, "key", keyName, "err", err)
}

// complete stores the connected project, if the attempt is still current.
func (p *workerDeps) complete(ctx context.Context, work models.ConnectionWork, project models.ConnectedProject, attemptID int64, leftover bool) error {
	err := p.connections.Complete(ctx, work, project, attemptID)
	if errors.Is(err, models.ErrStale) || (err == nil && leftover) {
		// Too late, or an older attempt is still unsettled: whatever failed
		// the attempt queued a reconcile, which may have run before the
		// project was recorded; one more settles what is left.
		if rerr := p.connections.RequestReconcile(ctx, work.AppID); rerr != nil {
			return rerr
		}
	}
	if errors.Is(err, models.ErrStale) {
		return river.JobCancel(errStaleJob)
	}
	if err != nil {
		return err
	}
	p.metrics.connected(work.StartedAt)
	return nil
}

// fail moves the attempt to failed; the transition queues the reconcile of
// what it left behind.
func (p *workerDeps) fail(ctx context.Context, c models.Connection, message, outcome string) error {
	// Recording the failure must not depend on a context that just expired.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	kind := models.EventConnectFailed
	if outcome == "deadline" {
		kind = models.EventDeadlineFired
	}
	err := p.connections.Fail(ctx, Failure{AppID: c.AppID, Attempt: c.Attempt, Message: message, Event: kind})
	if errors.Is(err, models.ErrStale) {
		return river.JobCancel(errStaleJob)
	}
	if err != nil {
		return err
	}
	p.metrics.failed(outcome, message)
	return nil
}

// refused says create_project's only request was refused with a client error
// (quota, SSO, a bad token): no project exists. After a retried 5xx, a later
// refusal proves nothing about what the first request did.
func refused(err error) bool {
	var ce *convex.Error
	return errors.As(err, &ce) && ce.Tries == 1 && ce.Status >= 400 && ce.Status < 500 && !ce.Retryable()
}
