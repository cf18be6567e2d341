package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"chefdeploy/handlers/webtest"
	"chefdeploy/replica"
)

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := webtest.Do(t, webtest.Browser(t), "GET", b.app.URL+"/", nil)
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline or eval: %q", csp)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("missing nosniff or frame denial: %v", res.Header)
	}
	if res.Header.Get("X-Request-Id") == "" {
		t.Error("no request id")
	}
	if strings.Contains(res.Body, "<script>") || strings.Contains(res.Body, "style=") {
		t.Error("the page has inline script or style, which the CSP blocks")
	}
}

func TestFragmentOnHTMXRequest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	full := webtest.Do(t, c, "GET", b.app.URL+"/", nil)
	frag := webtest.Do(t, c, "GET", b.app.URL+"/", nil, "HX-Request", "true")
	if !strings.Contains(full.Body, "<html") || !strings.Contains(full.Body, "htmx.min.js") {
		t.Fatal("full page lacks the layout")
	}
	if strings.Contains(frag.Body, "<html") || !strings.Contains(frag.Body, `data-testid="landing"`) {
		t.Fatalf("HTMX request got more or less than the fragment: %s", frag.Body)
	}
	if !strings.Contains(frag.Header.Get("Vary"), "HX-Request") {
		t.Error("responses that differ by HX-Request must say Vary: HX-Request")
	}
	restore := webtest.Do(t, c, "GET", b.app.URL+"/", nil, "HX-Request", "true", "HX-History-Restore-Request", "true")
	if !strings.Contains(restore.Body, "<html") {
		t.Error("a history restore needs the full page")
	}
}

func TestNotFoundPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := webtest.Do(t, webtest.Browser(t), "GET", b.app.URL+"/no/such/page", nil)
	if res.Status != http.StatusNotFound || !strings.Contains(res.Body, `data-testid="error"`) {
		t.Fatalf("unknown route = %d without the error page", res.Status)
	}
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *setupOptions) { o.env = map[string]string{"METRICS_TOKEN": "test-metrics-token"} })
	c := webtest.Browser(t)
	if res := webtest.Do(t, c, "GET", b.app.URL+"/healthz", nil); res.Status != http.StatusOK {
		t.Fatalf("healthz = %d", res.Status)
	}
	if res := webtest.Do(t, c, "GET", b.app.URL+"/readyz", nil); res.Status != http.StatusOK {
		t.Fatalf("readyz = %d: %s", res.Status, res.Body)
	}
	webtest.Do(t, c, "GET", b.app.URL+"/", nil)
	m := webtest.Do(t, c, "GET", b.app.URL+"/metrics", nil, "Authorization", "Bearer test-metrics-token")
	for _, want := range []string{
		`chefdeploy_http_requests_total{code="200",method="GET",route="GET /{$}"} 1`,
		`chefdeploy_http_request_duration_seconds_bucket{method="GET",route="GET /readyz"`,
	} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// A database that went away makes the replica unready, not dead. (A
	// web-only replica: workers without their database would not stop.)
	r := b.startReplica(t, b.cfg, replica.WithoutWorkers())
	web := httptest.NewServer(r.Handler())
	t.Cleanup(web.Close)
	if err := r.DB().Close(); err != nil {
		t.Fatal(err)
	}
	if res := webtest.Do(t, c, "GET", web.URL+"/readyz", nil); res.Status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the database gone = %d", res.Status)
	}
	if res := webtest.Do(t, c, "GET", web.URL+"/healthz", nil); res.Status != http.StatusOK {
		t.Fatalf("healthz with the database gone = %d", res.Status)
	}
}

func TestStaticAssetsAreEmbeddedAndCached(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	page := webtest.Do(t, c, "GET", b.app.URL+"/", nil)
	i := strings.Index(page.Body, "/static/app.css?v=")
	if i < 0 {
		t.Fatal("page does not link the versioned stylesheet")
	}
	href := page.Body[i : i+strings.IndexByte(page.Body[i:], '"')]
	css := webtest.Do(t, c, "GET", b.app.URL+href, nil)
	if css.Status != http.StatusOK || !strings.Contains(css.Header.Get("Cache-Control"), "immutable") || len(css.Body) < 1000 {
		t.Fatalf("stylesheet = %d, cache %q, %d bytes", css.Status, css.Header.Get("Cache-Control"), len(css.Body))
	}
	if res := webtest.Do(t, c, "GET", b.app.URL+"/static/tailwind.css", nil); res.Status != http.StatusNotFound {
		t.Fatalf("the Tailwind source is served: %d", res.Status)
	}
}

// TestMetricsNeedTheToken: /metrics is not public. Without METRICS_TOKEN it
// is not served at all; with it, only a request bearing that token gets it,
// and every other one the same 404 as an unknown page.
func TestMetricsNeedTheToken(t *testing.T) {
	t.Parallel()
	open := setup(t, withEnv("METRICS_TOKEN", ""))
	c := webtest.Browser(t)
	if res := webtest.Do(t, c, "GET", open.app.URL+"/metrics", nil, "Authorization", "Bearer "+testMetricsToken); res.Status != http.StatusNotFound || strings.Contains(res.Body, "chefdeploy_http_requests_total") {
		t.Errorf("/metrics without METRICS_TOKEN = %d, want 404 without metrics", res.Status)
	}

	b := setup(t, func(o *setupOptions) { o.env = map[string]string{"METRICS_TOKEN": "test-metrics-token"} })
	for _, auth := range []string{"", "Bearer ", "Bearer wrong-token", "Basic dGVzdC1tZXRyaWNzLXRva2Vu", "test-metrics-token"} {
		res := webtest.Do(t, c, "GET", b.app.URL+"/metrics", nil, "Authorization", auth)
		if res.Status != http.StatusNotFound || strings.Contains(res.Body, "chefdeploy_http_requests_total") {
			t.Errorf("/metrics with Authorization %q = %d, want 404 without metrics", auth, res.Status)
		}
	}
	res := webtest.Do(t, c, "GET", b.app.URL+"/metrics", nil, "Authorization", "Bearer test-metrics-token")
	if res.Status != http.StatusOK || !strings.Contains(res.Body, "chefdeploy_http_requests_total") {
		t.Fatalf("/metrics with the token = %d:\n%.300s", res.Status, res.Body)
	}
	if strings.Contains(b.logs.String(), "test-metrics-token") {
		t.Error("the metrics token reached the log")
	}
}
