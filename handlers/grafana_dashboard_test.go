package handlers_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"chefdeploy/handlers/webtest"
	"chefdeploy/sandbox"
)

// The Grafana dashboard in deploy/grafana only charts what the product
// exports: every metric its PromQL names, and every label value it matches
// exactly, is on a running replica's /metrics from the start (a renamed
// metric would leave a panel silently empty).
func TestGrafanaDashboardUsesExportedMetrics(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../deploy/grafana/chefdeploy.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if dash.Title == "" || len(dash.Panels) < 10 {
		t.Fatalf("dashboard %q has %d panels", dash.Title, len(dash.Panels))
	}

	b, c := signedIn(t, sandbox.UserAda)
	id := b.createApp(t, c, "Charted")
	if res := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/status", nil, "HX-Request", "true"); res.Status != http.StatusOK {
		t.Fatalf("status = %d", res.Status)
	}
	b.waitMetric(t, c, `route="GET /apps/{id}/status"`)
	exported := webtest.Do(t, c, "GET", b.app.URL+"/metrics", nil, "Authorization", "Bearer "+testMetricsToken).Body
	names := map[string]bool{}
	for _, line := range strings.Split(exported, "\n") {
		if name, _, _ := strings.Cut(line, " "); name != "" && name[0] != '#' {
			name, _, _ = strings.Cut(name, "{")
			names[name] = true
		}
	}

	var (
		matchers   = regexp.MustCompile(`([a-z_]+)="([^"]*)"`)
		selectors  = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]|\b(?:by|without) \([^)]*\)`)
		identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
		promql     = map[string]bool{"histogram_quantile": true}
	)
	checked := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			for _, m := range matchers.FindAllStringSubmatch(target.Expr, -1) {
				// job and instance are Prometheus's own labels.
				if m[1] != "job" && m[1] != "instance" && !strings.Contains(exported, m[0]) {
					t.Errorf("panel %q matches %s, which /metrics never shows", p.Title, m[0])
				}
			}
			for _, name := range identifier.FindAllString(selectors.ReplaceAllString(target.Expr, " "), -1) {
				if !strings.Contains(name, "_") || promql[name] {
					continue // a function, or Prometheus's own "up"
				}
				checked++
				if !names[name] {
					t.Errorf("panel %q charts %s, which /metrics does not export", p.Title, name)
				}
			}
		}
	}
	if checked < 15 {
		t.Errorf("only %d metric names found in the dashboard's queries", checked)
	}
}
