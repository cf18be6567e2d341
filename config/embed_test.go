package config_test

import (
	"strings"
	"testing"

	"chefdeploy/config"
)

// CONVEX_DASHBOARD_EMBED_URL (CONTRACT §2.4, §4): Convex's embeddable build
// by default, the sandbox's own page in sandbox mode, and an absolute http(s)
// URL without a query when set.
func TestDashboardEmbedURL(t *testing.T) {
	t.Parallel()
	prod, err := config.Load(envOf(productionEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if prod.DashboardEmbedURL != "https://dashboard-embedded.convex.dev" {
		t.Errorf("default = %q", prod.DashboardEmbedURL)
	}
	if got := prod.DashboardEmbedPage("logs"); got != "https://dashboard-embedded.convex.dev/logs" {
		t.Errorf("DashboardEmbedPage(logs) = %q", got)
	}

	env := productionEnv()
	env["CONVEX_DASHBOARD_EMBED_URL"] = "https://embed.example.com/base/"
	set, err := config.Load(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if set.DashboardEmbedURL != "https://embed.example.com/base" {
		t.Errorf("set = %q, want it without the trailing slash", set.DashboardEmbedURL)
	}

	sb, err := config.Load(envOf(map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1/db", "DATA_DIR": t.TempDir(), "HTTP_ADDR": "127.0.0.1:9999"}))
	if err != nil {
		t.Fatal(err)
	}
	if sb.DashboardEmbedURL != "http://127.0.0.1:9999/sandbox/dashboard-embedded" {
		t.Errorf("sandbox = %q", sb.DashboardEmbedURL)
	}

	for name, bad := range map[string]string{
		"relative":  "/dashboard-embedded",
		"no scheme": "dashboard-embedded.convex.dev",
		"ftp":       "ftp://dashboard-embedded.convex.dev",
		"query":     "https://dashboard-embedded.convex.dev/?embedded=true",
		"fragment":  "https://dashboard-embedded.convex.dev/#data",
	} {
		env := productionEnv()
		env["CONVEX_DASHBOARD_EMBED_URL"] = bad
		_, err := config.Load(envOf(env))
		if err == nil {
			t.Errorf("%s: Load accepted %q", name, bad)
			continue
		}
		if !strings.Contains(err.Error(), "CONVEX_DASHBOARD_EMBED_URL") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %q should be one line naming CONVEX_DASHBOARD_EMBED_URL", name, err)
		}
	}
}
