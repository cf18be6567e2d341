package config_test

import (
	"strings"
	"testing"
	"time"

	"chefdeploy/config"
	"chefdeploy/credentials"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func productionEnv() map[string]string {
	return map[string]string{
		"DATABASE_URL":               "postgres://x@127.0.0.1/db",
		"PROVISION_HOST":             "https://api.convex.dev",
		"CONVEX_OAUTH_CLIENT_ID":     "client",
		"CONVEX_OAUTH_CLIENT_SECRET": "client-secret-value",
		"SESSION_SECRET":             strings.Repeat("s", 40),
		"CREDENTIALS_KEY":            credentials.GenerateSpec("k1"),
	}
}

func TestProductionDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(envOf(productionEnv()))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"HTTPAddr":      {cfg.HTTPAddr, "127.0.0.1:8080"},
		"BaseURL":       {cfg.BaseURL, "http://127.0.0.1:8080"},
		"RedirectURL":   {cfg.RedirectURL(), "http://127.0.0.1:8080/auth/callback"},
		"AuthorizeURL":  {cfg.OAuthAuthorizeURL, "https://dashboard.convex.dev/oauth/authorize/team"},
		"TokenURL":      {cfg.OAuthTokenURL, "https://api.convex.dev/oauth/token"},
		"DashboardLink": {cfg.DashboardLink("happy-otter-123"), "https://dashboard.convex.dev/d/happy-otter-123"},
		"SiteLink":      {cfg.SiteLink("happy-otter-123"), "https://happy-otter-123.convex.app"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if cfg.MaxAppsPerUser != 200 {
		t.Errorf("MaxAppsPerUser = %d, want 200", cfg.MaxAppsPerUser)
	}
	if cfg.Sandbox || cfg.ConnectionDeadline != 15*time.Second || cfg.SecureCookies() {
		t.Errorf("sandbox=%v deadline=%v secure=%v", cfg.Sandbox, cfg.ConnectionDeadline, cfg.SecureCookies())
	}
}

func TestMissingOrBadSettingIsNamed(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		change map[string]string
		want   string
	}{
		"no database":         {map[string]string{"DATABASE_URL": ""}, "DATABASE_URL"},
		"short metrics token": {map[string]string{"METRICS_TOKEN": "short"}, "METRICS_TOKEN"},
		"bad login limit":     {map[string]string{"LOGIN_RATE_LIMIT": "30"}, "LOGIN_RATE_LIMIT"},
		"bad action limit":    {map[string]string{"ACTION_RATE_LIMIT": "0/1m"}, "ACTION_RATE_LIMIT"},
		"no client id":        {map[string]string{"CONVEX_OAUTH_CLIENT_ID": ""}, "CONVEX_OAUTH_CLIENT_ID"},
		"no client secret":    {map[string]string{"CONVEX_OAUTH_CLIENT_SECRET": ""}, "CONVEX_OAUTH_CLIENT_SECRET"},
		"no session secret":   {map[string]string{"SESSION_SECRET": ""}, "SESSION_SECRET"},
		"short session":       {map[string]string{"SESSION_SECRET": "short"}, "SESSION_SECRET"},
		"no credentials key":  {map[string]string{"CREDENTIALS_KEY": ""}, "CREDENTIALS_KEY"},
		"bad credentials":     {map[string]string{"CREDENTIALS_KEY": "k1:nope"}, "CREDENTIALS_KEY"},
		"bad deadline":        {map[string]string{"CHECK_CONNECTION_DEADLINE": "soon"}, "CHECK_CONNECTION_DEADLINE"},
		"bad base url":        {map[string]string{"BASE_URL": "example.com"}, "BASE_URL"},
		"bad provision host":  {map[string]string{"PROVISION_HOST": "ftp://x"}, "PROVISION_HOST"},
		"bad addr":            {map[string]string{"HTTP_ADDR": "8080"}, "HTTP_ADDR"},
		"bad site template":   {map[string]string{"CONVEX_SITE_URL_TEMPLATE": "https://x.app"}, "CONVEX_SITE_URL_TEMPLATE"},
		"bad app limit":       {map[string]string{"MAX_APPS_PER_USER": "lots"}, "MAX_APPS_PER_USER"},
		"zero app limit":      {map[string]string{"MAX_APPS_PER_USER": "0"}, "MAX_APPS_PER_USER"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := productionEnv()
			key := env["CREDENTIALS_KEY"]
			for k, v := range tc.change {
				env[k] = v
			}
			_, err := config.Load(envOf(env))
			if err == nil {
				t.Fatal("Load accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q should be one line naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "client-secret-value") {
				t.Fatalf("error %q shows a secret", err)
			}
		})
	}
}

func TestSandboxModeGeneratesAndKeepsSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1/db", "DATA_DIR": dir, "HTTP_ADDR": "127.0.0.1:9999"}
	first, err := config.Load(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if !first.Sandbox || first.ProvisionHost != "http://127.0.0.1:9999/sandbox" ||
		first.OAuthAuthorizeURL != "http://127.0.0.1:9999/sandbox/oauth/authorize" ||
		first.OAuthClientID != config.SandboxClientID || first.OAuthClientSecret == "" {
		t.Fatalf("sandbox config not pointed at the sandbox: %+v", first)
	}
	second, err := config.Load(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if string(first.SessionSecret) != string(second.SessionSecret) || first.OAuthClientSecret != second.OAuthClientSecret {
		t.Fatal("a restart in sandbox mode must keep the generated secrets")
	}
	sealed, err := first.Credentials.SealString("x", "p")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := second.Credentials.OpenString(sealed, "p"); err != nil || got != "x" {
		t.Fatal("a restart in sandbox mode must keep the credentials key")
	}
}
