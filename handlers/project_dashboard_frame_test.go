package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"chefdeploy/handlers/webtest"
)

// dashboardPages are the framed dashboard's pages (CONTRACT §2.4), in the
// switcher's order.
var dashboardPages = []string{"data", "functions", "files", "logs", "history", "settings"}

var (
	frameSrc    = regexp.MustCompile(`<iframe[^>]*\bdata-src="([^"]*)"`)
	currentPage = regexp.MustCompile(`<a[^>]*data-page="([^"]*)"[^>]*aria-current="page"|<a[^>]*aria-current="page"[^>]*data-page="([^"]*)"`)
)

// framedPage is the frame's src and the page the switcher marks as current.
func framedPage(t *testing.T, body string) (src, current string) {
	t.Helper()
	m := frameSrc.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no dashboard frame:\n%s", body)
	}
	cur := currentPage.FindAllStringSubmatch(body, -1)
	if len(cur) != 1 {
		t.Fatalf("%d pages marked current, want 1", len(cur))
	}
	return m[1], cur[0][1] + cur[0][2]
}

// TestProjectDashboardFrame: the project page frames
// {CONVEX_DASHBOARD_EMBED_URL}/{page}, offers every page in a switcher,
// falls back to data for anything else, and the CSP frames that origin only.
func TestProjectDashboardFrame(t *testing.T) {
	t.Parallel()
	b, c, id, deployment := connectedApp(t, "grace", "hopper-labs")
	base := b.app.URL + "/apps/" + id + "/dashboard"

	for _, page := range dashboardPages {
		res := webtest.Do(t, c, "GET", base+"?page="+page, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("page %s = %d", page, res.Status)
		}
		src, current := framedPage(t, res.Body)
		if want := b.sandboxURL + "/dashboard-embedded/" + page; src != want || current != page {
			t.Errorf("?page=%s frames %q with %q current, want %q", page, src, current, want)
		}
		for _, other := range dashboardPages {
			link := `href="/apps/` + id + `/dashboard?page=` + other + `"`
			if !strings.Contains(res.Body, link) {
				t.Errorf("?page=%s: the switcher lacks %s", page, link)
			}
		}
		if !strings.Contains(res.Body, `data-dashboard-origin="`+b.sandboxURL+`"`) {
			t.Errorf("?page=%s: the script is not told the embed origin", page)
		}
		// The external link is still the full dashboard, not the embed.
		if !strings.Contains(res.Body, `href="`+b.cfg.DashboardLink(deployment)+`"`) {
			t.Errorf("?page=%s: no external link to %s", page, b.cfg.DashboardLink(deployment))
		}
	}

	// Anything else falls back to data and is never shown.
	for _, raw := range []string{"", "DATA", "logs/../settings", "../../evil", "<script>x</script>", "data?x=1", "javascript:alert(1)"} {
		res := webtest.Do(t, c, "GET", base+"?page="+url.QueryEscape(raw), nil)
		if res.Status != http.StatusOK {
			t.Fatalf("?page=%q = %d", raw, res.Status)
		}
		if src, current := framedPage(t, res.Body); src != b.sandboxURL+"/dashboard-embedded/data" || current != "data" {
			t.Errorf("?page=%q frames %q with %q current, want data", raw, src, current)
		}
		if raw != "" && raw != "DATA" && (strings.Contains(res.Body, raw) || strings.Contains(res.Body, url.QueryEscape(raw))) {
			t.Errorf("?page=%q is reflected in the page", raw)
		}
	}

	// The CSP adds the embed origin to frame-src and loosens nothing else.
	res := webtest.Do(t, c, "GET", base+"?page=logs", nil)
	wantCSP := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-src 'self' " + b.sandboxURL + "; frame-ancestors 'none'"
	if csp := res.Header.Get("Content-Security-Policy"); csp != wantCSP {
		t.Errorf("CSP = %q\nwant  %q", csp, wantCSP)
	}
	if xfo := res.Header.Get("X-Frame-Options"); xfo != "DENY" {
		t.Errorf("X-Frame-Options = %q, want DENY", xfo)
	}

	// An HTMX request for the page gets the fragment with the same frame.
	frag := webtest.Do(t, c, "GET", base+"?page=files", nil, "HX-Request", "true")
	if src, _ := framedPage(t, frag.Body); src != b.sandboxURL+"/dashboard-embedded/files" || strings.Contains(frag.Body, "<html") {
		t.Errorf("HTMX fragment frames %q", src)
	}
}

// TestProjectDashboardEmbedOrigin: the embed origin comes from
// CONVEX_DASHBOARD_EMBED_URL alone, not from CONVEX_DASHBOARD_URL, which
// only the external link uses.
func TestProjectDashboardEmbedOrigin(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "grace", withEnv("CONVEX_DASHBOARD_EMBED_URL", "https://embed.example.test/convex/"))
	id := b.createApp(t, c, "Embed elsewhere")
	b.connect(t, c, id, "hopper-labs")
	if stateOf(t, b.waitFinal(t, c, id, 15_000_000_000).Body) != "connected" {
		t.Fatal("app did not connect")
	}
	res := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/dashboard?page=history", nil)
	if src, _ := framedPage(t, res.Body); src != "https://embed.example.test/convex/history" {
		t.Errorf("frame src = %q", src)
	}
	if !strings.Contains(res.Body, `data-dashboard-origin="https://embed.example.test"`) {
		t.Error("the script is not told the embed origin")
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-src 'self' https://embed.example.test;") || strings.Contains(csp, b.sandboxURL) {
		t.Errorf("CSP = %q, want frame-src of the embed origin only", csp)
	}
	if !strings.Contains(res.Body, b.sandboxURL+"/dashboard/d/") {
		t.Error("the external link no longer goes to CONVEX_DASHBOARD_URL")
	}
}
