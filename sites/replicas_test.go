package sites_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"chefdeploy/config"
	"chefdeploy/models"
	"chefdeploy/sites"
)

// TestTwoReplicasNeverServeStale: two replicas' caches over one database.
// Both serve a site from memory; a deploy recorded by one flips what the
// other serves too, by NOTIFY, and neither ever serves a mix of bundles.
func TestTwoReplicasNeverServeStale(t *testing.T) {
	t.Parallel()
	f := setup(t, config.SitesLayout{}, 8<<20)
	second := sites.NewHandler(f.cfg, f.db, listeningCache(t, f.db, f.dbURL), nil)
	srv2 := httptest.NewServer(second)
	t.Cleanup(srv2.Close)
	other := &fixture{db: f.db, srv: srv2}

	a := f.connectedApp(t, "two-replicas-1")
	f.deploy(t, a, viteSite("v1"))
	for _, r := range []*fixture{f, other} {
		r.expect(t, "/two-replicas-1/", "<h1>v1</h1>")
		r.expect(t, "/two-replicas-1/assets/index-B5Qt9EMX.js", `"v1"`)
	}
	if s := second.CacheStats(); s.Entries == 0 || s.Hits+s.Misses == 0 {
		t.Fatalf("the second replica's cache holds nothing: %+v", s)
	}

	// The deploy goes live through the first replica's database pool; the
	// second replica serves the new bundle once its commit is announced, and
	// nothing but v1 or v2 whole in between.
	f.deploy(t, a, viteSite("v2"))
	waitUntil(t, "the second replica to serve v2", func() bool {
		html := other.get(t, "GET", "/two-replicas-1/")
		switch {
		case strings.Contains(html.body, "<h1>v2</h1>"):
			js := other.get(t, "GET", "/two-replicas-1/assets/index-B5Qt9EMX.js")
			if !strings.Contains(js.body, `"v2"`) {
				t.Fatalf("the second replica serves v2's page with %.40q", js.body)
			}
			return true
		case strings.Contains(html.body, "<h1>v1</h1>"):
			return false
		}
		t.Fatalf("the second replica served %d %.80q", html.status, html.body)
		return false
	})

	// A disconnect recorded anywhere takes the site down on both.
	if _, err := f.db.ExecContext(context.Background(), `DELETE FROM connections WHERE app_id = $1`, a.id); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*fixture{f, other} {
		r.expectStatus(t, "/two-replicas-1/", 404)
	}
}

// TestLargeFilesStreamFromTheDatabase: a file too large for the cache is
// streamed chunk by chunk, whole and by range, and never cached.
func TestLargeFilesStreamFromTheDatabase(t *testing.T) {
	t.Parallel()
	f := setup(t, config.SitesLayout{}, 1<<20) // files over 64 KiB are not cached
	a := f.connectedApp(t, "large-site-1")
	var b strings.Builder
	for i := 0; b.Len() < 3*models.SiteChunkSize+1000; i++ {
		b.WriteString(strings.Repeat(string(rune('a'+i%26)), 97))
		b.WriteString("\n")
	}
	big := b.String()
	f.deploy(t, a, map[string]string{"index.html": "<h1>large</h1>", "data/big.txt": big})

	whole := f.get(t, "GET", "/large-site-1/data/big.txt")
	if whole.status != 200 || whole.body != big {
		t.Fatalf("GET big.txt = %d, %d bytes, want 200 with %d", whole.status, len(whole.body), len(big))
	}
	// A range across the boundary of the first and second chunks.
	from := models.SiteChunkSize - 10
	res := f.get(t, "GET", "/large-site-1/data/big.txt", "Range: bytes="+strconv.Itoa(from)+"-"+strconv.Itoa(from+19))
	if res.status != 206 || res.body != big[from:from+20] {
		t.Errorf("Range across chunks = %d %q, want 206 %q", res.status, res.body, big[from:from+20])
	}
	if gz := f.get(t, "GET", "/large-site-1/data/big.txt", "Accept-Encoding: gzip"); gz.header.Get("Content-Encoding") != "gzip" || decode(t, "gzip", gz.body) != big {
		t.Errorf("gzip of a large file: encoding %q, decodes to the file: false", gz.header.Get("Content-Encoding"))
	}
	if s := f.h.CacheStats(); s.Bytes > s.MaxBytes || s.Bytes > 64<<10*4 {
		t.Errorf("the cache holds %d bytes (max %d) after serving a %d-byte file", s.Bytes, s.MaxBytes, len(big))
	}
}

// TestPruningKeepsWhatASiteServes: after many deploys, pruning keeps the
// bundle the site points at, even once it is not among the newest.
func TestPruningKeepsWhatASiteServes(t *testing.T) {
	t.Parallel()
	f := setup(t, config.SitesLayout{}, 8<<20)
	ctx := context.Background()
	a := f.connectedApp(t, "prune-site-1")
	first := f.deploy(t, a, viteSite("v0"))
	var last models.Deploy
	for i := 1; i <= models.BundlesKeptPerApp+2; i++ {
		last = f.deploy(t, a, viteSite("v"+strconv.Itoa(i)))
	}
	// Roll back to the first: the site points at it, the newest bundles
	// are all others.
	f.rollback(t, a, first)
	for i := 0; i < models.BundlesKeptPerApp+1; i++ {
		d, err := models.CreateDeploy(ctx, f.db, models.Deploy{AppID: a.id, BundleSHA256: last.BundleSHA256, BundleBytes: last.BundleBytes, DeploymentName: a.deployment})
		if err != nil {
			t.Fatal(err)
		}
		if err := models.FinishDeploy(ctx, f.db, d, models.DeployFailed, "failed on purpose"); err != nil {
			t.Fatal(err)
		}
	}
	pruned, err := models.PruneBundles(ctx, f.db, a.id)
	if err != nil {
		t.Fatal(err)
	}
	if pruned == 0 {
		t.Fatal("nothing was pruned")
	}
	f.expect(t, "/prune-site-1/", "<h1>v0</h1>")
	f.expect(t, "/prune-site-1/assets/index-B5Qt9EMX.js", `"v0"`)
	var orphans int
	if err := f.db.GetContext(ctx, &orphans, `
		SELECT count(*) FROM site_blobs b WHERE NOT EXISTS (SELECT 1 FROM site_files f WHERE f.blob_sha256 = b.sha256)`); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d file blobs no bundle uses were kept", orphans)
	}
}
