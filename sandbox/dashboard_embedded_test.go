package sandbox_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"chefdeploy/sandbox"
)

// TestEmbeddedDashboardPages: the embeddable dashboard (CONTRACT §2.4)
// serves each of its pages, framable, with the script that speaks the
// exchange; other pages are not found.
func TestEmbeddedDashboardPages(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	script := regexp.MustCompile(`<script src="([^"]+)"`)
	for _, page := range []string{"data", "functions", "files", "logs", "history", "settings"} {
		rp := f.send(t, "GET", "/dashboard-embedded/"+page, nil, nil)
		body := string(rp.body)
		if rp.status != http.StatusOK || !strings.HasPrefix(rp.header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %q", page, rp.status, rp.header.Get("Content-Type"))
		}
		if !strings.Contains(body, `data-testid="sandbox-embed-page">`+page+`<`) || !strings.Contains(body, `data-page="`+page+`"`) {
			t.Errorf("%s: the page does not name itself:\n%s", page, body)
		}
		// Framed by the product: no X-Frame-Options and no frame-ancestors
		// of its own (the product's CSP adds 'self' when it mounts it).
		if xfo := rp.header.Get("X-Frame-Options"); xfo != "" {
			t.Errorf("%s: X-Frame-Options = %q, the product cannot frame it", page, xfo)
		}
		if csp := rp.header.Get("Content-Security-Policy"); strings.Contains(csp, "frame-ancestors") {
			t.Errorf("%s: CSP %q limits who frames it", page, csp)
		}
		m := script.FindStringSubmatch(body)
		if m == nil || m[1] != f.base+"/dashboard-embedded/static/embed.js" {
			t.Fatalf("%s: script = %v", page, m)
		}
	}

	js := f.send(t, "GET", "/dashboard-embedded/static/embed.js", nil, nil)
	if js.status != http.StatusOK || !strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("embed.js: %d %q", js.status, js.header.Get("Content-Type"))
	}
	for _, want := range []string{
		`window.parent.postMessage({ type: "dashboard-credentials-request" }, "*")`,
		`event.source !== window.parent`,
		`"dashboard-credentials"`,
		`/api/v1/list_environment_variables`,
		`"Convex " + `,
	} {
		if !strings.Contains(string(js.body), want) {
			t.Errorf("embed.js lacks %q", want)
		}
	}
	if n := strings.Count(string(js.body), "postMessage("); n != 1 {
		t.Errorf("embed.js posts %d times, want the one request", n)
	}

	for _, bad := range []string{"/dashboard-embedded/DATA", "/dashboard-embedded/d", "/dashboard-embedded/%3Cscript%3E", "/dashboard-embedded/"} {
		if rp := f.send(t, "GET", bad, nil, nil); rp.status != http.StatusNotFound || strings.Contains(string(rp.body), "<script>") {
			t.Errorf("%s: %d, want 404", bad, rp.status)
		}
	}
}
