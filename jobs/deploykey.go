package jobs

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/riverqueue/river"

	"chefdeploy/convex"
)

// DeleteDeployKeyArgs deletes, at Convex, the named deploy key of a
// connection that was dropped (CONTRACT §2.1: disconnect deletes the app's
// key with the owner's grant for that team).
type DeleteDeployKeyArgs struct {
	AppID          string `json:"app_id"`
	OwnerID        string `json:"owner_id"`
	TeamSlug       string `json:"team_slug"`
	DeploymentName string `json:"deployment_name"`
	KeyName        string `json:"key_name"`
}

// Kind names the job in River's table.
func (DeleteDeployKeyArgs) Kind() string { return "delete_deploy_key" }

// InsertOpts: a few tries for an outage; deleting twice is harmless (the
// second finds nothing).
func (DeleteDeployKeyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5}
}

// DeleteDeployKeyWorker deletes a dropped connection's deploy key by name
// with the owner's credentials for its team. Without credentials (the grant
// was forgotten or never given) there is nothing it can do: the key stays
// valid until it is deleted in the Convex dashboard.
type DeleteDeployKeyWorker struct {
	river.WorkerDefaults[DeleteDeployKeyArgs]
	deps *workerDeps
}

// deleteKeyTimeout bounds one try.
const deleteKeyTimeout = 30 * time.Second

// Timeout keeps River's own bound in step with ours.
func (w *DeleteDeployKeyWorker) Timeout(*river.Job[DeleteDeployKeyArgs]) time.Duration {
	return deleteKeyTimeout + 5*time.Second
}

// Work deletes the key once.
func (w *DeleteDeployKeyWorker) Work(ctx context.Context, job *river.Job[DeleteDeployKeyArgs]) error {
	p, a := w.deps, job.Args
	ctx, cancel := context.WithTimeout(ctx, deleteKeyTimeout)
	defer cancel()
	creds, _, err := p.CredentialSource.Credentials(ctx, a.OwnerID, a.TeamSlug)
	if _, ok := noCredentials(err); ok {
		p.Logger.Info("deploy key left at Convex: no credentials for its team", "app_id", a.AppID, "team", a.TeamSlug, "key", a.KeyName)
		return nil
	}
	if err != nil {
		return err
	}
	err = p.Backend.DeleteDeployKey(ctx, creds, a.DeploymentName, a.KeyName)
	ce, isConvex := errors.AsType[*convex.Error](err)
	switch {
	case err == nil:
		p.Logger.Info("deleted a dropped connection's deploy key", "app_id", a.AppID, "team", a.TeamSlug, "key", a.KeyName)
		return nil
	case isConvex && ce.Status == http.StatusNotFound:
		// Already gone, with its project or by hand: what we wanted.
		return nil
	case isConvex && !ce.Retryable():
		// A revoked grant, a role that does not allow it: asking again
		// changes nothing.
		p.Logger.Warn("deploy key left at Convex", "app_id", a.AppID, "team", a.TeamSlug, "key", a.KeyName, "err", err)
		return river.JobCancel(err)
	}
	return err
}
