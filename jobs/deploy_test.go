package jobs

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"chefdeploy/models"
	"chefdeploy/sandbox"
)

// recordDeploy stores a one-page site bundle and records an uploading deploy
// of it to deploymentName, as the deploy handler does.
func (f *fixture) recordDeploy(t *testing.T, deploymentName string) (models.Deploy, []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("index.html")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("<h1>Recipe Box</h1>")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	body := buf.Bytes()
	sum := sha256.Sum256(body)
	b := models.Bundle{SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(body)), Files: 1, UncompressedBytes: 19}

	tx, err := f.db.BeginTxx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := models.StoreBundle(t.Context(), tx, b, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	d, err := models.CreateDeploy(t.Context(), tx, models.Deploy{
		AppID: f.app.ID, UserID: sql.NullString{String: f.user.ID, Valid: true},
		BundleSHA256: b.SHA256, BundleBytes: b.Bytes, FileCount: b.Files,
		DeploymentName: deploymentName, SiteURL: f.cfg.SiteLink(deploymentName),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return d, body
}

func (f *fixture) deployByID(t *testing.T, id string) models.Deploy {
	t.Helper()
	d, err := models.DeployByID(t.Context(), f.db, f.app.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A recorded deploy of a connected app goes live on the sandbox's hosting
// with the stored deploy key; working it again uploads nothing more.
func TestDeployGoesLive(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.connect(t, sandbox.TeamAcme)
	d, body := f.recordDeploy(t, c.DeploymentName)
	args := DeployArgs{AppID: f.app.ID, DeployID: d.ID}
	mustWork(t, f, f.deploy(), args, river.EventKindJobCompleted)

	got := f.deployByID(t, d.ID)
	if got.Status != models.DeployLive || got.Error != "" || !got.FinishedAt.Valid {
		t.Fatalf("deploy = %s %q, want live", got.Status, got.Error)
	}
	site, ok := f.sb.LastBundle(c.DeploymentName)
	if !ok || !bytes.Equal(site, body) {
		t.Fatal("the sandbox's hosting does not hold the uploaded bundle")
	}
	if n := f.events(t, models.EventDeployDone); n != 1 {
		t.Fatalf("deploy_done events = %d, want 1", n)
	}
	if n := f.count(t, `SELECT count(*) FROM apps WHERE id = $1 AND last_deployed_at IS NOT NULL`, f.app.ID); n != 1 {
		t.Fatal("the app is not marked deployed")
	}

	mustWork(t, f, f.deploy(), args, river.EventKindJobCompleted)
	if n := f.sb.Calls("hosting_deploy", sandbox.TeamAcme); n != 1 {
		t.Fatalf("hosting_deploy calls = %d after working a finished deploy again, want 1", n)
	}
}

// A deploy of an app that is not connected (any more) fails with its message.
func TestDeployNotConnectedFails(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d, _ := f.recordDeploy(t, "happy-otter-123")
	mustWork(t, f, f.deploy(), DeployArgs{AppID: f.app.ID, DeployID: d.ID}, river.EventKindJobCompleted)

	const message = "The app is no longer connected to this deployment."
	if got := f.deployByID(t, d.ID); got.Status != models.DeployFailed || got.Error != message {
		t.Fatalf("deploy = %s %q, want failed %q", got.Status, got.Error, message)
	}
	if n := f.count(t, `SELECT count(*) FROM events WHERE app_id = $1 AND kind = $2 AND detail = $3`,
		f.app.ID, models.EventDeployFailed, message); n != 1 {
		t.Fatalf("deploy_failed events = %d, want 1", n)
	}
}

// A job for a deploy that does not exist is cancelled.
func TestDeployUnknownIsCancelled(t *testing.T) {
	t.Parallel()
	f := setup(t)
	mustWork(t, f, f.deploy(), DeployArgs{AppID: f.app.ID, DeployID: uuid.NewString()}, river.EventKindJobCancelled)
}

// A deploy finished by someone else while this worker uploaded (a second run
// of the job, a rollback) keeps that outcome, and its history gets no second,
// contradicting event from this worker.
func TestDeployFinishedMeanwhileRecordsNoEvent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.connect(t, sandbox.TeamAcme)
	d, _ := f.recordDeploy(t, c.DeploymentName)
	var hookErr error
	hook := func(r *http.Request) {
		if r.URL.Path == "/api/hosting/deploy" {
			_, hookErr = f.db.ExecContext(context.Background(),
				`UPDATE deploys SET status = 'failed', error = 'superseded', finished_at = now() WHERE id = $1`, d.ID)
		}
	}
	f.onRequest.Store(&hook)
	mustWork(t, f, f.deploy(), DeployArgs{AppID: f.app.ID, DeployID: d.ID}, river.EventKindJobCompleted)
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	if got := f.deployByID(t, d.ID); got.Status != models.DeployFailed || got.Error != "superseded" {
		t.Fatalf("deploy = %s %q, want the other outcome kept", got.Status, got.Error)
	}
	if n := f.events(t, models.EventDeployDone) + f.events(t, models.EventDeployFailed); n != 0 {
		t.Fatalf("deploy events recorded for a deploy this worker did not finish = %d, want 0", n)
	}
}

// A deploy whose replica died mid-upload stops renewing its lease; once the
// lease has run out, a sweep on any replica records it failed, once, and a
// deploy whose lease still runs is left alone. The job River rescues later
// finds it finished and uploads nothing.
func TestSweepFailsAbandonedUploadsOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.connect(t, sandbox.TeamAcme)
	abandoned, _ := f.recordDeploy(t, c.DeploymentName)
	running, _ := f.recordDeploy(t, c.DeploymentName)
	f.exec(t, `UPDATE deploys SET upload_lease_until = now() - interval '1 second' WHERE id = $1`, abandoned.ID)
	if err := models.RenewUploadLease(t.Context(), f.db, running.ID, time.Minute); err != nil {
		t.Fatal(err)
	}

	if n, err := f.sweeper.SweepUploads(t.Context()); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want 1", n, err)
	}
	if n, err := f.sweeper.SweepUploads(t.Context()); err != nil || n != 0 {
		t.Fatalf("a second sweep = %d, %v; want 0", n, err)
	}
	if got := f.deployByID(t, abandoned.ID); got.Status != models.DeployFailed || got.Error != models.InterruptedUploadMessage {
		t.Fatalf("abandoned deploy = %s %q", got.Status, got.Error)
	}
	if got := f.deployByID(t, running.ID); got.Status != models.DeployUploading {
		t.Fatalf("the deploy whose lease runs = %s", got.Status)
	}
	if n := f.events(t, models.EventDeployFailed); n != 1 {
		t.Fatalf("deploy_failed events = %d, want 1", n)
	}
	mustWork(t, f, f.deploy(), DeployArgs{AppID: f.app.ID, DeployID: abandoned.ID}, river.EventKindJobCompleted)
	if n := f.sb.Calls("hosting_deploy", sandbox.TeamAcme); n != 0 {
		t.Fatalf("hosting_deploy calls = %d for a deploy already failed", n)
	}
}
