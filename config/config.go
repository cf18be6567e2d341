// Package config reads chefdeploy's settings (CONTRACT §4) once, at start-up,
// into one Config that is passed to whatever needs it.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"chefdeploy/credentials"
)

// Production defaults of CONTRACT §4.
const (
	DefaultHTTPAddr          = "127.0.0.1:8080"
	DefaultConvexAPIURL      = "https://api.convex.dev"
	DefaultAuthorizeURL      = "https://dashboard.convex.dev/oauth/authorize/team"
	DefaultTokenURL          = "https://api.convex.dev/oauth/token"
	DefaultDashboardURL      = "https://dashboard.convex.dev"
	DefaultSiteURLTemplate   = "https://{deployment}.convex.app"
	DefaultConnectionTimeout = 15 * time.Second
	DefaultMaxBundleBytes    = 100 << 20
	// Uploads: how many one user sends at once (per replica), the temporary
	// disk space all uploads may take (per replica), and the slowest body
	// accepted, measured over each window.
	DefaultMaxUploadsPerUser  = 3
	DefaultUploadTempMaxBytes = 1 << 30
	DefaultUploadMinRate      = 16 << 10
	DefaultUploadRateWindow   = 10 * time.Second
	DefaultMaxAppsPerUser     = 200
	// DefaultAuthKeyStock is how many Convex Auth keys are kept made ahead
	// of time: at 20 connects a second, ten seconds' worth.
	DefaultAuthKeyStock = 200
	maxAuthKeyStock     = 10000

	// DefaultSitesAddr is where platform mode serves the deployed sites,
	// DefaultSitesURLTemplate their public URL, and DefaultSitesCacheBytes
	// the memory each replica gives to their hot files.
	DefaultSitesAddr        = "127.0.0.1:8081"
	DefaultSitesURLTemplate = "http://{SITES_ADDR}/{deployment}/"
	DefaultSitesCacheBytes  = 64 << 20

	// SandboxPath is where the built-in sandbox is mounted.
	SandboxPath = "/sandbox"
	// SandboxClientID is the OAuth application the sandbox registers for us.
	SandboxClientID = "chefdeploy-sandbox"
	// SandboxOIDCClientID is the login client the sandbox's OIDC provider
	// registers for us.
	SandboxOIDCClientID = "chefdeploy-sandbox-login"
	// SandboxSupportGroup is SUPPORT_OIDC_GROUP's default in sandbox mode:
	// the group the sandbox puts its support staff (Sam) in.
	SandboxSupportGroup = "support"
)

// The two ways of reaching Convex (CONVEX_API, CONTRACT §2).
const (
	ConvexAPIPlatform = "platform"
	ConvexAPIBuilder  = "builder"
)

// Config is every setting of the product. Secrets are kept as parsed values
// and never printed: Config has no String method that would show them.
type Config struct {
	DatabaseURL string
	HTTPAddr    string
	BaseURL     string // no trailing slash

	// Sandbox is SANDBOX, by default true when none of OIDC_ISSUER_URL,
	// CONVEX_OAUTH_CLIENT_ID and PROVISION_HOST is set: the built-in sandbox
	// is mounted at SandboxPath and every Convex and OIDC URL left empty
	// points at it.
	Sandbox         bool
	SandboxStateDir string

	// ConvexAPI is CONVEX_API, "platform" or "builder" (the replica picks
	// its Convex backend from it), and ConvexAPIURL the Management API's
	// base URL.
	ConvexAPI    string
	ConvexAPIURL string

	// The login's OpenID Connect provider (CONTRACT §3.1), and the groups
	// claim value that gives the support role ("" gives it to no group).
	OIDCIssuerURL    string
	OIDCClientID     string
	OIDCClientSecret string
	SupportOIDCGroup string

	ProvisionHost       string
	OAuthAuthorizeURL   string
	OAuthTokenURL       string
	OAuthClientID       string
	OAuthClientSecret   string
	DashboardURL        string
	SiteURLTemplate     string
	ConnectionDeadline  time.Duration
	SessionSecret       []byte
	Credentials         *credentials.Keyring
	SupportTeamSlug     string
	HostingDeploySecret string

	// DashboardEmbedURL is the base of the framed dashboard (CONVEX_DASHBOARD_EMBED_URL).
	DashboardEmbedURL string

	// DataDir holds what sandbox mode generates and keeps: its keys and state.
	DataDir string
	// MaxBundleBytes bounds an uploaded site bundle (MAX_BUNDLE_BYTES).
	MaxBundleBytes int64
	// MaxUploadsPerUser bounds one user's deploy uploads in flight on this
	// replica (MAX_UPLOADS_PER_USER).
	MaxUploadsPerUser int
	// UploadTempDir is where uploads are received (UPLOAD_TEMP_DIR), and
	// UploadTempMaxBytes the space all of them in flight may take
	// (UPLOAD_TEMP_MAX_BYTES).
	UploadTempDir      string
	UploadTempMaxBytes int64
	// UploadMinRate is the slowest upload body accepted, in bytes per
	// second (UPLOAD_MIN_BYTES_PER_SECOND), over each UploadRateWindow
	// (UPLOAD_RATE_WINDOW).
	UploadMinRate    int64
	UploadRateWindow time.Duration
	// MaxAppsPerUser is how many apps one user may have (MAX_APPS_PER_USER).
	MaxAppsPerUser int
	// AuthKeyStock is how many Convex Auth keys the fleet keeps made ahead
	// of time in PostgreSQL (AUTH_KEY_STOCK); 0 keeps none, and each
	// connect makes its own.
	AuthKeyStock int
	// MetricsToken is the bearer a scraper presents for /metrics
	// (METRICS_TOKEN); empty serves no metrics.
	MetricsToken string
	// PprofAddr is a loopback host:port serving net/http/pprof (PPROF_ADDR);
	// empty serves none. For profiling under load, never for the public.
	PprofAddr string
	// LoginRateLimit bounds logins started per client address
	// (LOGIN_RATE_LIMIT).
	LoginRateLimit RateLimit
	// SitesAddr is where platform mode serves the deployed sites
	// (SITES_ADDR); SitesURLTemplate is their public URL (SITES_URL_TEMPLATE,
	// with {SITES_ADDR} already replaced), and Sites where the deployment's
	// name sits in it. SitesCacheBytes bounds the hot-file cache of each
	// replica (SITES_CACHE_BYTES).
	SitesAddr        string
	SitesURLTemplate string
	Sites            SitesLayout
	SitesCacheBytes  int64
	// ActionRateLimit bounds app creates, connects and deploys per user, each
	// action on its own; per client address the bound is four times as high
	// (ACTION_RATE_LIMIT).
	ActionRateLimit RateLimit
}

// RateLimit is at most Count requests per Per; a zero Count is no limit.
type RateLimit struct {
	Count int
	Per   time.Duration
}

// Off is true when the limit is disabled.
func (l RateLimit) Off() bool { return l.Count == 0 }

// Default rate limits.
var (
	DefaultLoginRateLimit  = RateLimit{Count: 30, Per: time.Minute}
	DefaultActionRateLimit = RateLimit{Count: 30, Per: time.Minute}
)

// parseRateLimit reads "30/1m" (count per Go duration) or "off".
func parseRateLimit(name, raw string, def RateLimit) (RateLimit, error) {
	if raw == "" {
		return def, nil
	}
	if raw == "off" {
		return RateLimit{}, nil
	}
	count, per, ok := strings.Cut(raw, "/")
	n, err := strconv.Atoi(count)
	d, derr := time.ParseDuration(per)
	if !ok || err != nil || derr != nil || n <= 0 || d < time.Second || d > 24*time.Hour {
		return RateLimit{}, fmt.Errorf("%s must be a count per duration such as 30/1m (1s to 24h), or off", name)
	}
	return RateLimit{Count: n, Per: d}, nil
}

// RedirectURL is the OAuth callback of CONTRACT §3.
func (c *Config) RedirectURL() string { return c.BaseURL + "/auth/callback" }

// SecureCookies is true when the product is served over https.
func (c *Config) SecureCookies() bool { return strings.HasPrefix(c.BaseURL, "https://") }

// DashboardLink is the Convex dashboard page of a deployment.
func (c *Config) DashboardLink(deploymentName string) string {
	return c.DashboardURL + "/d/" + url.PathEscape(deploymentName)
}

// SiteLink is the hosted site of a deployment: served by us in platform
// mode (SITES_URL_TEMPLATE), by Convex in builder mode
// (CONVEX_SITE_URL_TEMPLATE).
func (c *Config) SiteLink(deploymentName string) string {
	if c.ConvexAPI == ConvexAPIPlatform && c.SitesURLTemplate != "" {
		return strings.ReplaceAll(c.SitesURLTemplate, "{deployment}", deploymentName)
	}
	return strings.ReplaceAll(c.SiteURLTemplate, "{deployment}", deploymentName)
}

// SitesLayout says where a deployment's name sits in SITES_URL_TEMPLATE:
// the first label of the host ("https://{deployment}.sites.example.com/"),
// or a path segment ("http://127.0.0.1:8081/{deployment}/").
type SitesLayout struct {
	// HostBased: the name is the host's first label, followed by
	// HostSuffix (lower case, e.g. ".sites.example.com", no port).
	HostBased  bool
	HostSuffix string
	// PathPrefix (path-based): what comes before the name, "/" or
	// "/some/prefix/".
	PathPrefix string
}

// parseSitesTemplate checks SITES_URL_TEMPLATE (with {SITES_ADDR} replaced):
// an absolute http(s) URL with {deployment} exactly once, either as the
// host's first label with the path "/", or as the last path segment
// followed by "/".
func parseSitesTemplate(tmpl string) (SitesLayout, error) {
	bad := errors.New("SITES_URL_TEMPLATE must be an http(s) URL with {deployment} once, as the host's first label (https://{deployment}.sites.example.com/) or as the last path segment (http://127.0.0.1:8081/{deployment}/)")
	if strings.Count(tmpl, "{deployment}") != 1 {
		return SitesLayout{}, bad
	}
	u, err := url.Parse(strings.Replace(tmpl, "{deployment}", "deployment-name", 1))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return SitesLayout{}, bad
	}
	host := strings.ToLower(u.Hostname())
	if suffix, ok := strings.CutPrefix(host, "deployment-name."); ok {
		if u.Path != "/" || strings.Contains(suffix, "deployment-name") {
			return SitesLayout{}, bad
		}
		return SitesLayout{HostBased: true, HostSuffix: "." + suffix}, nil
	}
	prefix, ok := strings.CutSuffix(u.Path, "/deployment-name/")
	if !ok || strings.Contains(host, "deployment-name") || strings.Contains(prefix, "//") {
		return SitesLayout{}, bad
	}
	return SitesLayout{PathPrefix: prefix + "/"}, nil
}

// Load reads the settings through getenv. A missing or malformed setting is one
// error naming it; in sandbox mode the secrets that are not given are generated
// once and kept under DataDir, so a restart keeps sessions valid.
func Load(getenv func(string) string) (*Config, error) {
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := &Config{
		DatabaseURL:         env("DATABASE_URL", ""),
		HTTPAddr:            env("HTTP_ADDR", DefaultHTTPAddr),
		ProvisionHost:       strings.TrimRight(env("PROVISION_HOST", ""), "/"),
		SupportTeamSlug:     env("SUPPORT_TEAM_SLUG", ""),
		HostingDeploySecret: getenv("CONVEX_HOSTING_DEPLOY_SECRET"),
		DataDir:             env("DATA_DIR", ".data"),
		MetricsToken:        getenv("METRICS_TOKEN"),
	}
	if c.DatabaseURL == "" {
		return nil, errors.New("missing required setting DATABASE_URL (make run and make test set it)")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return nil, fmt.Errorf("HTTP_ADDR %q is not host:port", c.HTTPAddr)
	}
	c.BaseURL = strings.TrimRight(env("BASE_URL", "http://"+c.HTTPAddr), "/")
	if err := checkURL("BASE_URL", c.BaseURL); err != nil {
		return nil, err
	}
	switch raw := strings.ToLower(env("SANDBOX", "")); raw {
	case "":
		c.Sandbox = c.ProvisionHost == "" && env("OIDC_ISSUER_URL", "") == "" && env("CONVEX_OAUTH_CLIENT_ID", "") == ""
	case "true", "1", "yes":
		c.Sandbox = true
	case "false", "0", "no":
		c.Sandbox = false
	default:
		return nil, errors.New("SANDBOX must be true or false")
	}
	switch c.ConvexAPI = env("CONVEX_API", ConvexAPIPlatform); c.ConvexAPI {
	case ConvexAPIPlatform, ConvexAPIBuilder:
	default:
		return nil, errors.New("CONVEX_API must be platform or builder")
	}
	c.OIDCIssuerURL = strings.TrimRight(env("OIDC_ISSUER_URL", ""), "/")
	c.ConvexAPIURL = strings.TrimRight(env("CONVEX_API_URL", ""), "/")

	var err error
	if c.ConnectionDeadline, err = duration(env("CHECK_CONNECTION_DEADLINE", ""), DefaultConnectionTimeout); err != nil {
		return nil, fmt.Errorf("CHECK_CONNECTION_DEADLINE: %w", err)
	}

	c.MaxBundleBytes = DefaultMaxBundleBytes
	if raw := env("MAX_BUNDLE_BYTES", ""); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			return nil, errors.New("MAX_BUNDLE_BYTES must be a positive number of bytes")
		}
		c.MaxBundleBytes = n
	}
	positive := func(name string, def int64) (int64, error) {
		raw := env(name, "")
		if raw == "" {
			return def, nil
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%s must be a positive whole number", name)
		}
		return n, nil
	}
	perUser, err := positive("MAX_UPLOADS_PER_USER", DefaultMaxUploadsPerUser)
	if err != nil {
		return nil, err
	}
	c.MaxUploadsPerUser = int(min(perUser, 1<<20))
	if c.UploadTempMaxBytes, err = positive("UPLOAD_TEMP_MAX_BYTES", DefaultUploadTempMaxBytes); err != nil {
		return nil, err
	}
	if c.UploadMinRate, err = positive("UPLOAD_MIN_BYTES_PER_SECOND", DefaultUploadMinRate); err != nil {
		return nil, err
	}
	if c.UploadRateWindow, err = duration(env("UPLOAD_RATE_WINDOW", ""), DefaultUploadRateWindow); err != nil {
		return nil, fmt.Errorf("UPLOAD_RATE_WINDOW: %w", err)
	}
	c.UploadTempDir = env("UPLOAD_TEMP_DIR", os.TempDir())
	if fi, err := os.Stat(c.UploadTempDir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("UPLOAD_TEMP_DIR %q is not a directory", c.UploadTempDir)
	}

	c.MaxAppsPerUser = DefaultMaxAppsPerUser
	if raw := env("MAX_APPS_PER_USER", ""); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n <= 0 {
			return nil, errors.New("MAX_APPS_PER_USER must be a positive number of apps")
		}
		c.MaxAppsPerUser = n
	}

	c.AuthKeyStock = DefaultAuthKeyStock
	if raw := env("AUTH_KEY_STOCK", ""); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 || n > maxAuthKeyStock {
			return nil, fmt.Errorf("AUTH_KEY_STOCK must be a number of keys from 0 to %d", maxAuthKeyStock)
		}
		c.AuthKeyStock = n
	}

	if c.LoginRateLimit, err = parseRateLimit("LOGIN_RATE_LIMIT", env("LOGIN_RATE_LIMIT", ""), DefaultLoginRateLimit); err != nil {
		return nil, err
	}
	if c.ActionRateLimit, err = parseRateLimit("ACTION_RATE_LIMIT", env("ACTION_RATE_LIMIT", ""), DefaultActionRateLimit); err != nil {
		return nil, err
	}
	if c.PprofAddr = env("PPROF_ADDR", ""); c.PprofAddr != "" {
		host, _, err := net.SplitHostPort(c.PprofAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return nil, errors.New("PPROF_ADDR must be a loopback host:port such as 127.0.0.1:6060")
		}
	}
	c.SitesAddr = env("SITES_ADDR", DefaultSitesAddr)
	if _, _, err := net.SplitHostPort(c.SitesAddr); err != nil {
		return nil, fmt.Errorf("SITES_ADDR %q is not host:port", c.SitesAddr)
	}
	// Only platform mode serves sites; builder mode keeps any HTTP_ADDR.
	if c.SitesAddr == c.HTTPAddr && c.ConvexAPI == ConvexAPIPlatform {
		return nil, errors.New("SITES_ADDR must differ from HTTP_ADDR: the sites' origin is never the product's")
	}
	c.SitesURLTemplate = strings.ReplaceAll(env("SITES_URL_TEMPLATE", DefaultSitesURLTemplate), "{SITES_ADDR}", c.SitesAddr)
	if c.Sites, err = parseSitesTemplate(c.SitesURLTemplate); err != nil {
		return nil, err
	}
	if sites, err := url.Parse(strings.Replace(c.SitesURLTemplate, "{deployment}", "x", 1)); err == nil {
		if base, err := url.Parse(c.BaseURL); err == nil && strings.EqualFold(sites.Host, base.Host) && sites.Scheme == base.Scheme && c.ConvexAPI == ConvexAPIPlatform {
			return nil, errors.New("SITES_URL_TEMPLATE must not be on BASE_URL's origin: the sites' origin is never the product's")
		}
	}
	if c.SitesCacheBytes, err = positive("SITES_CACHE_BYTES", DefaultSitesCacheBytes); err != nil {
		return nil, err
	}
	if c.MetricsToken != "" && (len(c.MetricsToken) < 16 || strings.ContainsAny(c.MetricsToken, " \t\r\n")) {
		return nil, errors.New("METRICS_TOKEN must be at least 16 characters without spaces")
	}

	var generated *sandboxSecrets
	if c.Sandbox {
		sandboxURL := c.BaseURL + SandboxPath
		if c.ProvisionHost == "" {
			c.ProvisionHost = sandboxURL
		}
		if c.OIDCIssuerURL == "" {
			c.OIDCIssuerURL = sandboxURL + "/oidc"
		}
		if c.ConvexAPIURL == "" {
			c.ConvexAPIURL = sandboxURL
		}
		c.SupportOIDCGroup = env("SUPPORT_OIDC_GROUP", SandboxSupportGroup)
		c.SandboxStateDir = filepath.Join(c.DataDir, "sandbox")
		c.OAuthAuthorizeURL = env("CONVEX_OAUTH_AUTHORIZE_URL", sandboxURL+"/oauth/authorize/team")
		c.OAuthTokenURL = env("CONVEX_OAUTH_TOKEN_URL", sandboxURL+"/oauth/token")
		c.DashboardURL = strings.TrimRight(env("CONVEX_DASHBOARD_URL", sandboxURL+"/dashboard"), "/")
		c.SiteURLTemplate = env("CONVEX_SITE_URL_TEMPLATE", sandboxURL+"/sites/{deployment}/")
		// The sandbox's support staff team, unless another is named.
		c.SupportTeamSlug = env("SUPPORT_TEAM_SLUG", "chef-support")
		if generated, err = loadSandboxSecrets(c.DataDir); err != nil {
			return nil, err
		}
	} else {
		if c.ProvisionHost == "" {
			c.ProvisionHost = DefaultConvexAPIURL
		}
		if c.ConvexAPIURL == "" {
			c.ConvexAPIURL = DefaultConvexAPIURL
		}
		if c.OIDCIssuerURL == "" {
			return nil, errors.New("missing required setting OIDC_ISSUER_URL")
		}
		c.SupportOIDCGroup = env("SUPPORT_OIDC_GROUP", "")
		c.OAuthAuthorizeURL = env("CONVEX_OAUTH_AUTHORIZE_URL", DefaultAuthorizeURL)
		c.OAuthTokenURL = env("CONVEX_OAUTH_TOKEN_URL", DefaultTokenURL)
		c.DashboardURL = strings.TrimRight(env("CONVEX_DASHBOARD_URL", DefaultDashboardURL), "/")
		c.SiteURLTemplate = env("CONVEX_SITE_URL_TEMPLATE", DefaultSiteURLTemplate)
	}
	if c.ConvexAPI == ConvexAPIPlatform {
		// Team membership is known only to the provision host (CONTRACT
		// §4: SUPPORT_TEAM_SLUG is builder mode's); platform mode gives
		// the role by SUPPORT_OIDC_GROUP or the roles command.
		c.SupportTeamSlug = ""
	}
	for name, v := range map[string]string{
		"PROVISION_HOST":             c.ProvisionHost,
		"CONVEX_API_URL":             c.ConvexAPIURL,
		"OIDC_ISSUER_URL":            c.OIDCIssuerURL,
		"CONVEX_OAUTH_AUTHORIZE_URL": c.OAuthAuthorizeURL,
		"CONVEX_OAUTH_TOKEN_URL":     c.OAuthTokenURL,
		"CONVEX_DASHBOARD_URL":       c.DashboardURL,
	} {
		if err := checkURL(name, v); err != nil {
			return nil, err
		}
	}
	embedDefault := DefaultDashboardEmbedURL
	if c.Sandbox {
		embedDefault = c.BaseURL + SandboxPath + SandboxDashboardEmbedPath
	}
	if c.DashboardEmbedURL, err = dashboardEmbedURL(getenv("CONVEX_DASHBOARD_EMBED_URL"), embedDefault); err != nil {
		return nil, err
	}
	if !strings.Contains(c.SiteURLTemplate, "{deployment}") {
		return nil, errors.New("CONVEX_SITE_URL_TEMPLATE must contain {deployment}")
	}

	// Required secrets: from the environment, else (sandbox only) generated.
	required := func(name, fallback string) (string, error) {
		if v := getenv(name); v != "" {
			return v, nil
		}
		if generated != nil {
			return fallback, nil
		}
		return "", fmt.Errorf("missing required setting %s", name)
	}
	var fallbackClientID, fallbackClientSecret, fallbackSession, fallbackKey string
	var fallbackOIDCClientID, fallbackOIDCSecret string
	if generated != nil {
		fallbackClientID, fallbackClientSecret = SandboxClientID, generated.OAuthClientSecret
		fallbackOIDCClientID, fallbackOIDCSecret = SandboxOIDCClientID, generated.OIDCClientSecret
		fallbackSession, fallbackKey = generated.SessionSecret, generated.CredentialsKey
	}
	if c.OAuthClientID, err = required("CONVEX_OAUTH_CLIENT_ID", fallbackClientID); err != nil {
		return nil, err
	}
	if c.OAuthClientSecret, err = required("CONVEX_OAUTH_CLIENT_SECRET", fallbackClientSecret); err != nil {
		return nil, err
	}
	if c.OIDCClientID, err = required("OIDC_CLIENT_ID", fallbackOIDCClientID); err != nil {
		return nil, err
	}
	if c.OIDCClientSecret, err = required("OIDC_CLIENT_SECRET", fallbackOIDCSecret); err != nil {
		return nil, err
	}
	session, err := required("SESSION_SECRET", fallbackSession)
	if err != nil {
		return nil, err
	}
	if len(session) < 32 {
		return nil, errors.New("SESSION_SECRET must be at least 32 characters")
	}
	c.SessionSecret = []byte(session)
	keySpec, err := required("CREDENTIALS_KEY", fallbackKey)
	if err != nil {
		return nil, err
	}
	if c.Credentials, err = credentials.ParseKeyring(keySpec); err != nil {
		// The parse error names the key id at most, never the key.
		return nil, fmt.Errorf("CREDENTIALS_KEY: %w", err)
	}
	return c, nil
}

func checkURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s must be an absolute http(s) URL", name)
	}
	return nil
}

func duration(raw string, def time.Duration) (time.Duration, error) {
	if raw == "" {
		return def, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("%q is not a Go duration such as 15s", raw)
	}
	if d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, nil
}

// sandboxSecrets are generated on the first start in sandbox mode and kept in
// DataDir/sandbox-secrets.json (mode 0600) so sessions survive restarts.
type sandboxSecrets struct {
	SessionSecret     string `json:"sessionSecret"`
	CredentialsKey    string `json:"credentialsKey"`
	OAuthClientSecret string `json:"oauthClientSecret"`
	// OIDCClientSecret is missing from files written before the OIDC
	// login; it is generated then and the file rewritten.
	OIDCClientSecret string `json:"oidcClientSecret,omitempty"`
}

func loadSandboxSecrets(dir string) (*sandboxSecrets, error) {
	path := filepath.Join(dir, "sandbox-secrets.json")
	var s sandboxSecrets
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &s); err != nil || s.SessionSecret == "" || s.CredentialsKey == "" || s.OAuthClientSecret == "" {
			return nil, fmt.Errorf("%s is damaged; delete it to generate new sandbox secrets", path)
		}
		if s.OIDCClientSecret != "" {
			return &s, nil
		}
		s.OIDCClientSecret = randomText(24)
		return &s, writeSandboxSecrets(dir, path, s)
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("reading sandbox secrets: %w", err)
	}
	s = sandboxSecrets{
		SessionSecret:     randomText(32),
		CredentialsKey:    credentials.GenerateSpec("sandbox1"),
		OAuthClientSecret: randomText(24),
		OIDCClientSecret:  randomText(24),
	}
	return &s, writeSandboxSecrets(dir, path, s)
}

func writeSandboxSecrets(dir, path string, s sandboxSecrets) error {
	raw, _ := json.Marshal(s)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("writing sandbox secrets: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing sandbox secrets: %w", err)
	}
	return nil
}
