package main

import (
	"net/http"
	"strings"
	"testing"

	"chefdeploy/handlers/webtest"
	"chefdeploy/models/dbtest"
)

// TestSandboxEmbeddedDashboardFraming: in sandbox mode the embeddable
// dashboard is the product's own /sandbox/dashboard-embedded, which the
// product may frame; no other page may be framed, the old dashboard page
// included.
func TestSandboxEmbeddedDashboardFraming(t *testing.T) {
	t.Parallel()
	_, dbURL := dbtest.New(t)
	addr := webtest.FreeAddr(t)
	base := "http://" + addr
	stop := start(t, map[string]string{"DATABASE_URL": dbURL, "HTTP_ADDR": addr, "DATA_DIR": t.TempDir()}, &webtest.Buffer{})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("graceful shutdown: %v", err)
		}
	})
	c := webtest.Browser(t)

	home := webtest.Do(t, c, "GET", base+"/", nil)
	if csp := home.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-src 'self' "+base+";") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("product CSP = %q", csp)
	}

	embed := webtest.Do(t, c, "GET", base+"/sandbox/dashboard-embedded/logs", nil)
	if embed.Status != http.StatusOK || !strings.Contains(embed.Body, `data-testid="sandbox-embed-page">logs<`) {
		t.Fatalf("embedded dashboard = %d:\n%s", embed.Status, embed.Body)
	}
	if csp := embed.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self'") || embed.Header.Get("X-Frame-Options") != "" {
		t.Errorf("embedded dashboard is not framable by the product: CSP %q, X-Frame-Options %q", csp, embed.Header.Get("X-Frame-Options"))
	}

	for _, path := range []string{"/sandbox/dashboard/d/lost-dodo-000", "/sandbox/oauth/authorize", "/sandbox/dashboard-embeddedx/logs"} {
		res := webtest.Do(t, c, "GET", base+path, nil)
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s may be framed: CSP %q, X-Frame-Options %q", path, csp, res.Header.Get("X-Frame-Options"))
		}
	}
}
