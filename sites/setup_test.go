package sites_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"chefdeploy/config"
	"chefdeploy/models"
	"chefdeploy/models/dbtest"
	"chefdeploy/sites"
)

// fixture is one database with the sites handler in front of it, served by
// an httptest.Server, and one user to own apps.
type fixture struct {
	db     *sqlx.DB
	dbURL  string
	cfg    *config.Config
	live   *models.SiteCache
	h      *sites.Handler
	srv    *httptest.Server
	userID string
	pub    sites.Publisher
}

// setup starts the site cache's listener and the handler over a fresh
// database; layout "" is path-based at "/".
func setup(t testing.TB, layout config.SitesLayout, cacheBytes int64) *fixture {
	t.Helper()
	db, dbURL := dbtest.New(t)
	if layout == (config.SitesLayout{}) {
		layout = config.SitesLayout{PathPrefix: "/"}
	}
	f := &fixture{db: db, dbURL: dbURL, cfg: &config.Config{Sites: layout, SitesCacheBytes: cacheBytes}}
	f.live = listeningCache(t, db, dbURL)
	f.h = sites.NewHandler(f.cfg, db, f.live, nil)
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	f.pub = sites.Publisher{DB: db, TempDir: t.TempDir()}
	u, err := models.UpsertUser(context.Background(), db, "user-"+t.Name(), "Ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	f.userID = u.ID
	return f
}

// listeningCache is a site cache whose listener runs until the test ends.
func listeningCache(t testing.TB, db *sqlx.DB, dbURL string) *models.SiteCache {
	t.Helper()
	c := models.NewSiteCache(db, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, dbURL) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	waitUntil(t, "the site cache to listen", c.Listening)
	return c
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
}

// app is a connected app of the fixture's user on deployment.
type app struct {
	id, deployment string
}

func (f *fixture) connectedApp(t testing.TB, deployment string) app {
	t.Helper()
	ctx := context.Background()
	a, err := models.CreateApp(ctx, f.db, f.userID, "App "+deployment, 100)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.ExecContext(ctx, `
		INSERT INTO connections (app_id, state, attempt, team_slug, deployment_name, deadline_at)
		VALUES ($1, 'connected', 1, 'acme', $2, now() + interval '1 hour')`, a.ID, deployment); err != nil {
		t.Fatal(err)
	}
	return app{id: a.ID, deployment: deployment}
}

// siteZip is a zip of files (name → content), stored deflated as a
// bundler's output would be.
func siteZip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// deploy stores the zip of files, records a deploy of it for a, publishes
// it as the deploy worker does, and records it live: the site flips.
func (f *fixture) deploy(t testing.TB, a app, files map[string]string) models.Deploy {
	t.Helper()
	ctx := context.Background()
	z := siteZip(t, files)
	sum := sha256.Sum256(z)
	b := models.Bundle{SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(z)), Files: len(files), UncompressedBytes: 1}
	var d models.Deploy
	err := models.InTx(ctx, f.db, func(tx *sqlx.Tx) (err error) {
		if err := models.StoreBundle(ctx, tx, b, bytes.NewReader(z)); err != nil {
			return err
		}
		d, err = models.CreateDeploy(ctx, tx, models.Deploy{AppID: a.id, BundleSHA256: b.SHA256, BundleBytes: b.Bytes, FileCount: len(files), DeploymentName: a.deployment})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return f.publish(t, d)
}

// publish makes a recorded deploy live, as the deploy worker does.
func (f *fixture) publish(t testing.TB, d models.Deploy) models.Deploy {
	t.Helper()
	ctx := context.Background()
	open := func() (io.ReadCloser, error) { return models.OpenBundle(ctx, f.db, d.BundleSHA256, d.BundleBytes), nil }
	if err := f.pub.Publish(ctx, d, "", open); err != nil {
		t.Fatal(err)
	}
	live := func(tx *sqlx.Tx) error { return f.pub.Live(ctx, tx, d) }
	if err := models.FinishDeploy(ctx, f.db, d, models.DeployLive, "", live); err != nil {
		t.Fatal(err)
	}
	return d
}

// rollback records a new deploy of an earlier deploy's bundle and makes it
// live, as a rollback does.
func (f *fixture) rollback(t *testing.T, a app, earlier models.Deploy) models.Deploy {
	t.Helper()
	d, err := models.CreateDeploy(context.Background(), f.db, models.Deploy{
		AppID: a.id, BundleSHA256: earlier.BundleSHA256, BundleBytes: earlier.BundleBytes,
		FileCount: earlier.FileCount, DeploymentName: a.deployment,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f.publish(t, d)
}

// response is what a request got.
type response struct {
	status int
	header http.Header
	body   string
}

// get requests path from the sites server with headers ("Name: value").
func (f *fixture) get(t testing.TB, method, path string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		var k, v string
		if _, err := fmt.Sscanf(h, "%s", &k); err != nil {
			t.Fatal(err)
		}
		k = k[:len(k)-1]
		v = h[len(k)+2:]
		req.Header.Set(k, v)
	}
	// The transport would ask for gzip itself and decode it: a site
	// client's Accept-Encoding is the test's to choose.
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(body)}
}
