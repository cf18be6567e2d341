package sandbox

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure a Sandbox.
type Options struct {
	// BaseURL is the absolute public URL where Handler is served, e.g.
	// "http://127.0.0.1:8080/sandbox". It builds prodUrl, site URLs and links.
	BaseURL string
	// StateDir keeps state.json and sites/*.zip across restarts; "" keeps
	// everything in memory.
	StateDir string
	// Clients are the registered OAuth applications: client_id -> client_secret.
	Clients map[string]string
	// RedirectURIs are the clients' registered callbacks: client_id -> the
	// one redirect_uri the authorize page accepts for it, compared exactly.
	// A client without one cannot sign anyone in.
	RedirectURIs map[string]string
	// OtherRedirectURIs are further registered callbacks of a client, such as
	// {BASE_URL}/teams/callback next to the login's; each is also compared
	// exactly. (Convex lets an application register up to 20.)
	OtherRedirectURIs map[string][]string
	// DeploySecret, when non-empty, must come with hosting deploys in the
	// convex-chef-deploy-secret header.
	DeploySecret string
	// SlowDelay is how long the "slow" team waits before answering; 0 = 3s.
	SlowDelay time.Duration
	// MaxBundleBytes bounds a hosting deploy body; 0 = 200 MiB.
	MaxBundleBytes int64
	// ProjectQuotas overrides the project quota of the named demo teams, so
	// load and chaos runs can keep thousands of projects on one team.
	ProjectQuotas map[string]int
	// RandomFaults, when set, makes create_project on every team without a
	// failure mode of its own fail at random, from a seed.
	RandomFaults *RandomFaults
	// Logger may be nil.
	Logger *slog.Logger
}

const (
	defaultSlowDelay      = 3 * time.Second
	defaultMaxBundleBytes = 200 << 20
)

// Sandbox is the emulated provision host. It is safe for concurrent use.
type Sandbox struct {
	opts    Options
	base    string
	log     *slog.Logger
	handler http.Handler

	mu    sync.Mutex
	st    *state
	codes map[string]*authCode // by hash of the code; codes live in memory only
	// oidcCodes are the OIDC provider's codes, apart so that a code of one
	// flow is unknown to the other's token endpoint.
	oidcCodes map[string]*oidcCode
	// bundles holds hosting deploys when there is no StateDir.
	bundles map[string][]byte

	// keyMu guards key, which is made on first use (oidcSigningKey).
	keyMu sync.Mutex
	key   *signingKey

	done      chan struct{}
	closeOnce sync.Once

	// random draws Options.RandomFaults; nil without them.
	random *randomFaults
}

// New makes a Sandbox, loading the state saved in opts.StateDir.
func New(opts Options) (*Sandbox, error) {
	base := strings.TrimRight(opts.BaseURL, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sandbox: BaseURL must be an absolute http(s) URL, got %q", opts.BaseURL)
	}
	if opts.SlowDelay <= 0 {
		opts.SlowDelay = defaultSlowDelay
	}
	if opts.MaxBundleBytes <= 0 {
		opts.MaxBundleBytes = defaultMaxBundleBytes
	}
	opts.Clients = maps.Clone(opts.Clients)
	opts.ProjectQuotas = maps.Clone(opts.ProjectQuotas)
	opts.RedirectURIs = maps.Clone(opts.RedirectURIs)
	other := make(map[string][]string, len(opts.OtherRedirectURIs))
	for id, uris := range opts.OtherRedirectURIs {
		other[id] = slices.Clone(uris)
	}
	opts.OtherRedirectURIs = other
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.StateDir != "" {
		if err := os.MkdirAll(filepath.Join(opts.StateDir, "sites"), 0o700); err != nil {
			return nil, fmt.Errorf("sandbox: state dir: %w", err)
		}
	}
	st, err := loadState(opts.StateDir)
	if err != nil {
		return nil, err
	}
	s := &Sandbox{
		opts:      opts,
		base:      base,
		log:       log,
		st:        st,
		codes:     map[string]*authCode{},
		oidcCodes: map[string]*oidcCode{},
		bundles:   map[string][]byte{},
		done:      make(chan struct{}),
	}
	if opts.RandomFaults != nil {
		s.random = newRandomFaults(*opts.RandomFaults)
	}
	if st.OIDCKey != "" {
		if s.key, err = parseStoredKey(st.OIDCKey); err != nil {
			return nil, err
		}
	}
	s.handler = s.routes()
	return s, nil
}

// Handler serves the sandbox. Paths are relative to the mount point
// ("/oauth/authorize", "/api/..."); the product mounts it with
// http.StripPrefix.
func (s *Sandbox) Handler() http.Handler { return s.handler }

// Close releases the handlers that are blocked on purpose (the black-hole
// and slow teams); they answer 503. Later such requests answer 503 at once.
// Other endpoints keep working.
func (s *Sandbox) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// Projects returns copies of a team's live projects, oldest first.
func (s *Sandbox) Projects(teamSlug string) []Project {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Project
	for _, p := range s.liveProjectsLocked(teamSlug) {
		out = append(out, p.public())
	}
	return out
}

// Env returns a copy of a deployment's environment variables.
func (s *Sandbox) Env(deploymentName string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := maps.Clone(s.st.Env[deploymentName])
	if out == nil {
		out = map[string]string{}
	}
	return out
}

// Calls reports how many times op was called for a team. A call counts once
// it is authenticated and reaches the team (through a project or deployment
// for some ops), whatever it then answers. Ops are named after
// the API: "create_project", "authorize", "list_projects", "delete_project",
// "get_token_info", "record_tokens", "hosting_deploy",
// "update_environment_variables", "list_environment_variables", and of the
// Management API "token_details", "create_deploy_key", "delete_deploy_key",
// "list_deploy_keys" (its create_project, projects listing and project
// delete count as "create_project", "list_projects" and "delete_project",
// shared with the provision host, so a failure team's cycle is one for both
// APIs); calls that name no team ("profile", "teams", "oauth_token", "oidc_token") are
// counted under team "".
func (s *Sandbox) Calls(op, teamSlug string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Calls[callKey(op, teamSlug)]
}

// LastBundle returns the bytes of a deployment's last hosting deploy.
func (s *Sandbox) LastBundle(deploymentName string) ([]byte, bool) {
	b, err := s.readBundle(deploymentName)
	if err != nil {
		return nil, false
	}
	return b, true
}

// IssueToken mints an access token for a demo user without the browser
// flow, exactly as the token endpoint would.
func (s *Sandbox) IssueToken(userKey string) (string, error) {
	u, ok := usersByKey[userKey]
	if !ok {
		return "", fmt.Errorf("sandbox: no demo user %q", userKey)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueTokenLocked(u)
}

// issueTokenLocked mints a user access token in the real service's shape,
// "team:{teamSlug}|…", naming the user's first team.
func (s *Sandbox) issueTokenLocked(u User) (string, error) {
	token := "team:" + u.Teams[0] + "|" + newSecret("sbx_")
	s.st.Tokens[hashSecret(token)] = u.Key
	if err := s.saveLocked(); err != nil {
		delete(s.st.Tokens, hashSecret(token))
		return "", err
	}
	return token, nil
}

// readBundle returns the stored zip of a live deployment.
func (s *Sandbox) readBundle(name string) ([]byte, error) {
	s.mu.Lock()
	p := s.projectByDeploymentLocked(name)
	if p == nil || p.Site == nil {
		s.mu.Unlock()
		return nil, fs.ErrNotExist
	}
	if s.opts.StateDir == "" {
		b := s.bundles[name]
		s.mu.Unlock()
		return bytes.Clone(b), nil
	}
	s.mu.Unlock()
	return os.ReadFile(s.bundlePath(name))
}

// openBundle opens a deployment's stored zip for serving files; the caller
// calls release when done. Files are read from disk, not loaded whole.
func (s *Sandbox) openBundle(name string) (zr *zip.Reader, release func(), err error) {
	if s.opts.StateDir == "" {
		b, err := s.readBundle(name)
		if err != nil {
			return nil, nil, err
		}
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return nil, nil, errors.Join(fs.ErrNotExist, err)
		}
		return zr, func() {}, nil
	}
	s.mu.Lock()
	p := s.projectByDeploymentLocked(name)
	s.mu.Unlock()
	if p == nil {
		return nil, nil, fs.ErrNotExist
	}
	rc, err := zip.OpenReader(s.bundlePath(name))
	if err != nil {
		return nil, nil, errors.Join(fs.ErrNotExist, err)
	}
	return &rc.Reader, func() { _ = rc.Close() }, nil
}

func (s *Sandbox) bundlePath(name string) string {
	return filepath.Join(s.opts.StateDir, "sites", name+".zip")
}
