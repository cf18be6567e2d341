package config_test

import (
	"os"
	"path/filepath"
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
		"OIDC_ISSUER_URL":            "https://login.example.com",
		"OIDC_CLIENT_ID":             "login-client",
		"OIDC_CLIENT_SECRET":         "oidc-secret-value",
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
		"SiteLink":      {cfg.SiteLink("happy-otter-123"), "http://127.0.0.1:8081/happy-otter-123/"},
		"SitesAddr":     {cfg.SitesAddr, "127.0.0.1:8081"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if cfg.OIDCIssuerURL != "https://login.example.com" || cfg.OIDCClientID != "login-client" || cfg.OIDCClientSecret != "oidc-secret-value" || cfg.SupportOIDCGroup != "" {
		t.Errorf("OIDC settings = %q %q (secret set: %v) group %q", cfg.OIDCIssuerURL, cfg.OIDCClientID, cfg.OIDCClientSecret != "", cfg.SupportOIDCGroup)
	}
	if cfg.ConvexAPI != config.ConvexAPIPlatform || cfg.ConvexAPIURL != "https://api.convex.dev" {
		t.Errorf("CONVEX_API = %q at %q, want platform at https://api.convex.dev", cfg.ConvexAPI, cfg.ConvexAPIURL)
	}
	if cfg.MaxAppsPerUser != 200 {
		t.Errorf("MaxAppsPerUser = %d, want 200", cfg.MaxAppsPerUser)
	}
	if cfg.AuthKeyStock != 200 {
		t.Errorf("AuthKeyStock = %d, want 200", cfg.AuthKeyStock)
	}
	if cfg.Sandbox || cfg.ConnectionDeadline != 15*time.Second || cfg.SecureCookies() {
		t.Errorf("sandbox=%v deadline=%v secure=%v", cfg.Sandbox, cfg.ConnectionDeadline, cfg.SecureCookies())
	}
}

// AUTH_KEY_STOCK may be 0: no stock, every key made when it is needed.
func TestAuthKeyStockMayBeOff(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]int{"0": 0, "3": 3, "10000": 10000} {
		env := productionEnv()
		env["AUTH_KEY_STOCK"] = raw
		cfg, err := config.Load(envOf(env))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.AuthKeyStock != want {
			t.Errorf("AUTH_KEY_STOCK=%s gives %d", raw, cfg.AuthKeyStock)
		}
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
		"no oidc issuer":      {map[string]string{"OIDC_ISSUER_URL": ""}, "OIDC_ISSUER_URL"},
		"bad oidc issuer":     {map[string]string{"OIDC_ISSUER_URL": "login.example.com"}, "OIDC_ISSUER_URL"},
		"no oidc client id":   {map[string]string{"OIDC_CLIENT_ID": ""}, "OIDC_CLIENT_ID"},
		"no oidc secret":      {map[string]string{"OIDC_CLIENT_SECRET": ""}, "OIDC_CLIENT_SECRET"},
		"bad convex api":      {map[string]string{"CONVEX_API": "public"}, "CONVEX_API"},
		"bad convex api url":  {map[string]string{"CONVEX_API_URL": "api.convex.dev"}, "CONVEX_API_URL"},
		"bad sandbox flag":    {map[string]string{"SANDBOX": "maybe"}, "SANDBOX"},
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
		"public pprof":        {map[string]string{"PPROF_ADDR": "0.0.0.0:6060"}, "PPROF_ADDR"},
		"pprof without port":  {map[string]string{"PPROF_ADDR": "127.0.0.1"}, "PPROF_ADDR"},
		"bad key stock":       {map[string]string{"AUTH_KEY_STOCK": "many"}, "AUTH_KEY_STOCK"},
		"negative key stock":  {map[string]string{"AUTH_KEY_STOCK": "-1"}, "AUTH_KEY_STOCK"},
		"huge key stock":      {map[string]string{"AUTH_KEY_STOCK": "10001"}, "AUTH_KEY_STOCK"},
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
			if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "client-secret-value") || strings.Contains(err.Error(), "oidc-secret-value") {
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
		first.OAuthAuthorizeURL != "http://127.0.0.1:9999/sandbox/oauth/authorize/team" ||
		first.OAuthClientID != config.SandboxClientID || first.OAuthClientSecret == "" {
		t.Fatalf("sandbox config not pointed at the sandbox: %+v", first)
	}
	if first.OIDCIssuerURL != "http://127.0.0.1:9999/sandbox/oidc" || first.OIDCClientID != config.SandboxOIDCClientID ||
		first.OIDCClientSecret == "" || first.OIDCClientSecret == first.OAuthClientSecret ||
		first.SupportOIDCGroup != "support" || first.ConvexAPIURL != "http://127.0.0.1:9999/sandbox" {
		t.Fatalf("sandbox login not pointed at the sandbox: issuer %q client %q group %q api %q",
			first.OIDCIssuerURL, first.OIDCClientID, first.SupportOIDCGroup, first.ConvexAPIURL)
	}
	second, err := config.Load(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if string(first.SessionSecret) != string(second.SessionSecret) || first.OAuthClientSecret != second.OAuthClientSecret ||
		first.OIDCClientSecret != second.OIDCClientSecret {
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

func TestSandboxModeChoice(t *testing.T) {
	t.Parallel()
	base := func() map[string]string {
		return map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1/db", "DATA_DIR": t.TempDir(), "HTTP_ADDR": "127.0.0.1:9999"}
	}
	cases := map[string]struct {
		set     map[string]string
		sandbox bool
	}{
		"nothing set":             {nil, true},
		"an OIDC issuer":          {map[string]string{"OIDC_ISSUER_URL": "https://login.example.com"}, false},
		"a Convex OAuth client":   {map[string]string{"CONVEX_OAUTH_CLIENT_ID": "c"}, false},
		"a provision host":        {map[string]string{"PROVISION_HOST": "https://api.convex.dev"}, false},
		"SANDBOX=true wins":       {map[string]string{"SANDBOX": "true", "OIDC_ISSUER_URL": "https://login.example.com"}, true},
		"SANDBOX=false wins":      {map[string]string{"SANDBOX": "false"}, false},
		"SANDBOX=true, real host": {map[string]string{"SANDBOX": "true", "PROVISION_HOST": "https://api.convex.dev"}, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := base()
			for k, v := range tc.set {
				env[k] = v
			}
			cfg, err := config.Load(envOf(env))
			if !tc.sandbox {
				// Outside the sandbox the rest is required: the error names it.
				if err == nil {
					t.Fatal("Load accepted a production config without its secrets")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.Sandbox {
				t.Fatal("not in sandbox mode")
			}
			// A URL that is set is kept; an empty one points at the sandbox.
			if want := env["OIDC_ISSUER_URL"]; want != "" && cfg.OIDCIssuerURL != want {
				t.Errorf("OIDC issuer = %q, want %q", cfg.OIDCIssuerURL, want)
			}
			if want := env["PROVISION_HOST"]; want != "" && cfg.ProvisionHost != want {
				t.Errorf("provision host = %q, want %q", cfg.ProvisionHost, want)
			}
		})
	}
}

func TestSandboxSecretsFromAnOlderVersionGainTheOIDCSecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old := `{"sessionSecret":"` + strings.Repeat("s", 32) + `","credentialsKey":"` + credentials.GenerateSpec("sandbox1") + `","oauthClientSecret":"kept"}`
	if err := os.WriteFile(filepath.Join(dir, "sandbox-secrets.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1/db", "DATA_DIR": dir}
	first, err := config.Load(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if first.OAuthClientSecret != "kept" || first.OIDCClientSecret == "" {
		t.Fatalf("older secrets not upgraded: oauth kept %v, oidc set %v", first.OAuthClientSecret == "kept", first.OIDCClientSecret != "")
	}
	second, err := config.Load(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if second.OIDCClientSecret != first.OIDCClientSecret {
		t.Fatal("the generated OIDC client secret was not kept")
	}
}

func TestSupportTeamSlugIsBuilderModes(t *testing.T) {
	for mode, want := range map[string]string{"builder": "chef-support", "platform": ""} {
		env := productionEnv()
		env["CONVEX_API"] = mode
		env["SUPPORT_TEAM_SLUG"] = "chef-support"
		cfg, err := config.Load(envOf(env))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.SupportTeamSlug != want {
			t.Errorf("%s mode: SupportTeamSlug = %q, want %q", mode, cfg.SupportTeamSlug, want)
		}
	}
}

func TestSitesSettings(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		env      map[string]string
		link     string
		layout   config.SitesLayout
		hostSite bool
	}{
		"default, path-based": {
			env:    map[string]string{},
			link:   "http://127.0.0.1:8081/happy-otter-123/",
			layout: config.SitesLayout{PathPrefix: "/"},
		},
		"another address": {
			env:    map[string]string{"SITES_ADDR": "0.0.0.0:9000"},
			link:   "http://0.0.0.0:9000/happy-otter-123/",
			layout: config.SitesLayout{PathPrefix: "/"},
		},
		"path prefix": {
			env:    map[string]string{"SITES_URL_TEMPLATE": "https://sites.example.com/s/{deployment}/"},
			link:   "https://sites.example.com/s/happy-otter-123/",
			layout: config.SitesLayout{PathPrefix: "/s/"},
		},
		"host-based": {
			env:    map[string]string{"SITES_URL_TEMPLATE": "https://{deployment}.Sites.example.com/"},
			link:   "https://happy-otter-123.Sites.example.com/",
			layout: config.SitesLayout{HostBased: true, HostSuffix: ".sites.example.com"},
		},
		"builder mode keeps Convex's site link": {
			env:    map[string]string{"CONVEX_API": "builder"},
			link:   "https://happy-otter-123.convex.app",
			layout: config.SitesLayout{PathPrefix: "/"},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := productionEnv()
			for k, v := range c.env {
				env[k] = v
			}
			cfg, err := config.Load(envOf(env))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.SiteLink("happy-otter-123"); got != c.link {
				t.Errorf("SiteLink = %q, want %q", got, c.link)
			}
			if cfg.Sites != c.layout {
				t.Errorf("Sites = %+v, want %+v", cfg.Sites, c.layout)
			}
			if cfg.SitesCacheBytes != config.DefaultSitesCacheBytes {
				t.Errorf("SitesCacheBytes = %d", cfg.SitesCacheBytes)
			}
		})
	}
}

func TestBadSitesSettingsAreNamed(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		change map[string]string
		want   string
	}{
		"address not host:port":  {map[string]string{"SITES_ADDR": "8081"}, "SITES_ADDR"},
		"same address":           {map[string]string{"SITES_ADDR": "127.0.0.1:8080"}, "SITES_ADDR"},
		"no deployment":          {map[string]string{"SITES_URL_TEMPLATE": "http://127.0.0.1:8081/"}, "SITES_URL_TEMPLATE"},
		"twice":                  {map[string]string{"SITES_URL_TEMPLATE": "https://{deployment}.example.com/{deployment}/"}, "SITES_URL_TEMPLATE"},
		"inside a label":         {map[string]string{"SITES_URL_TEMPLATE": "https://site-{deployment}.example.com/"}, "SITES_URL_TEMPLATE"},
		"host-based with a path": {map[string]string{"SITES_URL_TEMPLATE": "https://{deployment}.example.com/app/"}, "SITES_URL_TEMPLATE"},
		"no trailing slash":      {map[string]string{"SITES_URL_TEMPLATE": "http://127.0.0.1:8081/{deployment}"}, "SITES_URL_TEMPLATE"},
		"not a URL":              {map[string]string{"SITES_URL_TEMPLATE": "/{deployment}/"}, "SITES_URL_TEMPLATE"},
		"a query":                {map[string]string{"SITES_URL_TEMPLATE": "http://127.0.0.1:8081/{deployment}/?x=1"}, "SITES_URL_TEMPLATE"},
		"the product's origin":   {map[string]string{"SITES_URL_TEMPLATE": "http://127.0.0.1:8080/sites/{deployment}/"}, "SITES_URL_TEMPLATE"},
		"cache size":             {map[string]string{"SITES_CACHE_BYTES": "lots"}, "SITES_CACHE_BYTES"},
	}
	// Builder mode serves no sites: the product may listen where they would.
	builder := productionEnv()
	builder["CONVEX_API"], builder["HTTP_ADDR"] = "builder", "127.0.0.1:8081"
	if _, err := config.Load(envOf(builder)); err != nil {
		t.Errorf("builder mode on 127.0.0.1:8081: %v", err)
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := productionEnv()
			for k, v := range c.change {
				env[k] = v
			}
			_, err := config.Load(envOf(env))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one naming %s", err, c.want)
			}
		})
	}
}
