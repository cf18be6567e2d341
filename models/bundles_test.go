package models_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/jmoiron/sqlx"

	"chefdeploy/models"
	"chefdeploy/models/dbtest"
)

// storeDeploy stores a one-chunk bundle named n and records a deploy of it
// with the given status.
func storeDeploy(t *testing.T, db *sqlx.DB, userID, appID string, n int, status string) models.Deploy {
	t.Helper()
	ctx := context.Background()
	content := []byte(fmt.Sprintf("bundle %d", n))
	b := models.Bundle{SHA256: fmt.Sprintf("sha-%d", n), Bytes: int64(len(content)), Files: 1, UncompressedBytes: int64(len(content))}
	var d models.Deploy
	if err := inTestTx(t, db, func(tx *sqlx.Tx) (err error) {
		if err := models.StoreBundle(ctx, tx, b, bytes.NewReader(content)); err != nil {
			return err
		}
		d, err = models.CreateDeploy(ctx, tx, models.Deploy{AppID: appID, BundleSHA256: b.SHA256, BundleBytes: b.Bytes, FileCount: 1, DeploymentName: "d"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if status != models.DeployUploading {
		if err := models.FinishDeploy(ctx, db, d, status, ""); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// Seven deploys started at once: the two oldest are still uploading when a
// newer one finishes and prunes. Their bundles, and the live one, stay.
func TestPruneBundlesSparesInFlightAndLiveDeploys(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.New(t)
	ctx := context.Background()
	u, err := models.UpsertUser(ctx, db, "1", "Ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	app, err := models.CreateApp(ctx, db, u.ID, "App", 0)
	if err != nil {
		t.Fatal(err)
	}
	// 0 is the live site; 1 and 2 are still uploading; 3..8 failed, newer.
	storeDeploy(t, db, u.ID, app.ID, 0, models.DeployLive)
	storeDeploy(t, db, u.ID, app.ID, 1, models.DeployUploading)
	storeDeploy(t, db, u.ID, app.ID, 2, models.DeployUploading)
	for n := 3; n <= 8; n++ {
		storeDeploy(t, db, u.ID, app.ID, n, models.DeployFailed)
	}
	if _, err := models.PruneBundles(ctx, db, app.ID); err != nil {
		t.Fatal(err)
	}
	var kept []string
	if err := db.Select(&kept, `SELECT sha256 FROM bundles ORDER BY sha256`); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"sha-0": true, "sha-1": true, "sha-2": true, "sha-4": true, "sha-5": true, "sha-6": true, "sha-7": true, "sha-8": true}
	got := map[string]bool{}
	for _, k := range kept {
		got[k] = true
	}
	for k := range want {
		if !got[k] {
			t.Errorf("bundle %s was pruned (kept %v); in-flight, live and the last %d must stay", k, kept, models.BundlesKeptPerApp)
		}
	}
	if got["sha-3"] {
		t.Errorf("bundle sha-3 (failed, not among the last %d) was kept: %v", models.BundlesKeptPerApp, kept)
	}
}
