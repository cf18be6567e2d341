package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"chefdeploy/convex"
	"chefdeploy/models"
)

// DeployArgs uploads one recorded deploy's bundle to Convex hosting.
type DeployArgs struct {
	AppID    string `json:"app_id"`
	DeployID string `json:"deploy_id"`
}

// Kind names the job in River's table.
func (DeployArgs) Kind() string { return "hosting_deploy" }

// InsertOpts: the upload itself retries inside the job; a crashed worker's
// job is retried once more by River.
func (DeployArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 2, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// uploadDeadline bounds one deploy, retries included.
const uploadDeadline = 5 * time.Minute

// turnDeadline bounds how long a deploy waits for the one before it in its
// app to finish uploading: that one's whole upload, and a little more.
const turnDeadline = uploadDeadline + 30*time.Second

// turnPoll is how often a waiting deploy asks whether its turn came.
const turnPoll = 250 * time.Millisecond

// DeployWorker streams the bundle from the database to Convex hosting with the
// app's deploy key and records the outcome.
type DeployWorker struct {
	river.WorkerDefaults[DeployArgs]
	deps *workerDeps
}

// Timeout lets a large upload run past River's default job timeout.
func (w *DeployWorker) Timeout(*river.Job[DeployArgs]) time.Duration {
	return deployJobTimeout
}

// deployJobTimeout bounds one deploy job: its turn, then its upload.
const deployJobTimeout = turnDeadline + uploadDeadline + time.Minute

// longestJob is the longest any worker runs; River's rescuer waits longer.
const longestJob = deployJobTimeout

// Work uploads the deploy.
func (w *DeployWorker) Work(ctx context.Context, job *river.Job[DeployArgs]) error {
	p := w.deps
	d, err := models.DeployByID(ctx, p.DB, job.Args.AppID, job.Args.DeployID)
	if errors.Is(err, models.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if d.Status != models.DeployUploading {
		return nil
	}
	finish := func(status, message string) error {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		// Pruned first, so that once a deploy shows as finished its app
		// keeps only the last few bundles.
		if _, err := models.PruneBundles(fctx, p.DB, d.AppID); err != nil {
			p.Logger.Warn("pruning bundles", "app_id", d.AppID, "err", err)
		}
		// The outcome and its event are one transaction; a stale finish
		// (another run finished the deploy) records nothing.
		// A live deploy becomes what the site serves in that same
		// transaction (platform mode flips the site's pointer).
		live := func(tx *sqlx.Tx) error { return p.Publisher.Live(fctx, tx, d) }
		err := models.FinishDeploy(fctx, p.DB, d, status, message, live)
		if errors.Is(err, models.ErrStale) {
			return nil
		}
		if err != nil {
			return err
		}
		p.metrics.deployed(status)
		return nil
	}

	// Deploys of one app upload one at a time and the newest wins.
	turn, err := waitTurn(ctx, p.DB, d)
	switch {
	case err != nil:
		return err
	case turn == models.TurnWait:
		return finish(models.DeployFailed, fmt.Sprintf("Another deploy of this app was still uploading after %v; deploy again.", turnDeadline))
	case turn != models.TurnClaimed:
		return nil // superseded by a newer deploy, or finished elsewhere
	}

	conn, err := models.ConnectionByApp(ctx, p.DB, d.AppID)
	if err != nil || conn.State != models.StateConnected || conn.DeployKey == "" || conn.DeploymentName != d.DeploymentName {
		return finish(models.DeployFailed, "The app is no longer connected to this deployment.")
	}
	key, err := p.Config.Credentials.OpenString(conn.DeployKey, models.DeployKeyPurpose(d.AppID))
	if err != nil {
		return finish(models.DeployFailed, "The app's deploy key cannot be read; connect the app again.")
	}
	if _, err := models.BundleByHash(ctx, p.DB, d.BundleSHA256); errors.Is(err, models.ErrNotFound) {
		return finish(models.DeployFailed, bundleGoneMessage)
	} else if err != nil {
		return err
	}
	uctx, cancel := context.WithTimeout(ctx, uploadDeadline)
	defer cancel()
	// While this upload runs its lease is renewed; if the replica dies, the
	// lease runs out within uploadLease and any replica's sweeper records
	// the deploy failed, instead of it showing as uploading until River
	// rescues the job.
	go renewLease(uctx, p, d.ID)
	// Each attempt streams the bundle anew from the database; a failure to
	// read it is remembered, since the HTTP client reports it only as a
	// broken request.
	var bundleErr bundleError
	open := func() (io.ReadCloser, error) {
		return &bundleReader{ReadCloser: models.OpenBundle(uctx, p.DB, d.BundleSHA256, d.BundleBytes), failed: &bundleErr}, nil
	}
	err = p.Publisher.Publish(uctx, d, key, open)
	switch {
	case err == nil:
		return finish(models.DeployLive, "")
	case ctx.Err() != nil:
		return ctx.Err() // the worker is stopping: River retries the job
	case bundleErr.get() != nil:
		p.Logger.Warn("deploy failed: bundle unreadable", "app_id", d.AppID, "deploy_id", d.ID, "err", bundleErr.get())
		return finish(models.DeployFailed, bundleGoneMessage)
	default:
		p.Logger.Info("deploy failed", "app_id", d.AppID, "deploy_id", d.ID, "err", err)
		return finish(models.DeployFailed, p.Publisher.FailureMessage(err))
	}
}

// bundleGoneMessage is the failure of a deploy whose stored bundle is gone
// or incomplete.
const bundleGoneMessage = "This deploy's bundle could not be read from storage (it is no longer stored or is incomplete); deploy the site again."

// uploadLease is how long a claimed upload holds its turn without renewing
// it; it is renewed every uploadLease/3 while the upload runs.
const uploadLease = 30 * time.Second

// renewLease renews the deploy's upload lease until ctx ends.
func renewLease(ctx context.Context, p *workerDeps, deployID string) {
	t := time.NewTicker(uploadLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := models.RenewUploadLease(ctx, p.DB, deployID, uploadLease); err != nil && ctx.Err() == nil {
				p.Logger.Warn("renewing an upload lease", "deploy_id", deployID, "err", err)
			}
		}
	}
}

// waitTurn asks until the deploy may upload, is superseded or finished, or
// turnDeadline passes (TurnWait).
func waitTurn(ctx context.Context, db *sqlx.DB, d models.Deploy) (models.UploadTurn, error) {
	deadline := time.Now().Add(turnDeadline)
	for {
		turn, err := models.ClaimUpload(ctx, db, d, uploadLease)
		if err != nil || turn != models.TurnWait || time.Now().After(deadline) {
			return turn, err
		}
		t := time.NewTimer(turnPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// bundleError is the first error reading a bundle failed with.
type bundleError struct {
	mu  sync.Mutex
	err error
}

func (b *bundleError) set(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
	}
}

func (b *bundleError) get() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// bundleReader records why reading the bundle failed.
type bundleReader struct {
	io.ReadCloser
	failed *bundleError
}

func (r *bundleReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if errors.Is(err, models.ErrBundleUnreadable) {
		r.failed.set(err)
	}
	return n, err
}

// Publisher makes a deploy's bundle what the app's site serves (CONTRACT
// §2.5): builder mode uploads it to Convex hosting (HostingPublisher);
// platform mode unpacks it for chefdeploy's own sites listener.
type Publisher interface {
	// Publish does what must happen before the deploy can be recorded live.
	// key is the app's deploy key; open streams the stored bundle anew
	// each time it is called.
	Publish(ctx context.Context, d models.Deploy, key string, open func() (io.ReadCloser, error)) error
	// Live runs in the transaction that records the deploy live.
	Live(ctx context.Context, tx *sqlx.Tx, d models.Deploy) error
	// FailureMessage says why Publish failed, in words a person can act on.
	FailureMessage(err error) string
}

// HostingPublisher uploads deploys to Convex hosting (builder mode).
type HostingPublisher struct{ Hosting convex.Hosting }

// Publish uploads the bundle with the deploy key.
func (h HostingPublisher) Publish(ctx context.Context, d models.Deploy, key string, open func() (io.ReadCloser, error)) error {
	_, err := h.Hosting.HostingDeploy(ctx, key, d.DeploymentName, d.BundleBytes, open)
	return err
}

// Live has nothing to do: Convex serves what was uploaded last.
func (HostingPublisher) Live(context.Context, *sqlx.Tx, models.Deploy) error { return nil }

// FailureMessage is uploadMessage.
func (HostingPublisher) FailureMessage(err error) string { return uploadMessage(err) }

// uploadMessage says why an upload failed, in words a person can act on.
func uploadMessage(err error) string {
	var ce *convex.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "Upload to Convex hosting timed out."
	case errors.As(err, &ce) && ce.Status == 401:
		return "Convex hosting refused the deploy key (401); connect the app again."
	case errors.As(err, &ce) && ce.Status != 0:
		return fmt.Sprintf("Upload to Convex hosting failed (%d).", ce.Status)
	}
	return "Upload to Convex hosting failed: " + convex.UserMessage(err)
}

// EnqueueDeploy inserts the upload job in the transaction that recorded the deploy.
func EnqueueDeploy(ctx context.Context, client *Client, tx *sqlx.Tx, d models.Deploy) error {
	_, err := client.InsertTx(ctx, tx.Tx, DeployArgs{AppID: d.AppID, DeployID: d.ID}, nil)
	return err
}
