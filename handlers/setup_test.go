package handlers_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"

	"chefdeploy/config"
	"chefdeploy/convex"
	"chefdeploy/credentials"
	"chefdeploy/handlers"
	"chefdeploy/handlers/webtest"
	"chefdeploy/models/dbtest"
	"chefdeploy/sandbox"
)

// lockedBuffer collects the product's log lines, which tests search for secrets.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// bundle is one running product: its server, its database and the sandbox it
// talks to, served separately as if it were the remote Convex.
type bundle struct {
	app        *httptest.Server
	db         *sqlx.DB
	dbURL      string
	cfg        *config.Config
	env        map[string]string
	sandbox    *sandbox.Sandbox
	sandboxURL string
	logs       *lockedBuffer
	// tokenCalls counts requests to the sandbox's OAuth token endpoint.
	tokenCalls atomic.Int64
}

type setupOptions struct {
	// sandboxSecret, when set, is the client secret the sandbox expects,
	// different from what the product sends.
	sandboxSecret string
	env           map[string]string
}

func setup(t *testing.T, opts ...func(*setupOptions)) *bundle {
	t.Helper()
	var o setupOptions
	for _, opt := range opts {
		opt(&o)
	}
	db, dbURL := dbtest.New(t)
	b := &bundle{db: db, dbURL: dbURL, logs: &lockedBuffer{}}

	sbServer := httptest.NewUnstartedServer(nil)
	sbServer.Start()
	t.Cleanup(sbServer.Close)
	b.sandboxURL = sbServer.URL
	clientSecret := "test-client-secret"
	expected := clientSecret
	if o.sandboxSecret != "" {
		expected = o.sandboxSecret
	}
	sb, err := sandbox.New(sandbox.Options{
		BaseURL: sbServer.URL,
		Clients: map[string]string{"test-client": expected},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	b.sandbox = sb
	sbHandler := sb.Handler()
	sbServer.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			b.tokenCalls.Add(1)
		}
		sbHandler.ServeHTTP(w, r)
	})

	b.app = httptest.NewUnstartedServer(nil)
	b.app.Start()
	t.Cleanup(b.app.Close)
	b.env = map[string]string{
		"DATABASE_URL":               dbURL,
		"HTTP_ADDR":                  b.app.Listener.Addr().String(),
		"BASE_URL":                   b.app.URL,
		"PROVISION_HOST":             sbServer.URL,
		"CONVEX_OAUTH_AUTHORIZE_URL": sbServer.URL + "/oauth/authorize",
		"CONVEX_OAUTH_TOKEN_URL":     sbServer.URL + "/oauth/token",
		"CONVEX_OAUTH_CLIENT_ID":     "test-client",
		"CONVEX_OAUTH_CLIENT_SECRET": clientSecret,
		"SESSION_SECRET":             "test-session-secret-0123456789abcdef",
		"CREDENTIALS_KEY":            credentials.GenerateSpec("t1"),
	}
	for k, v := range o.env {
		b.env[k] = v
	}
	b.cfg = b.loadConfig(t)
	b.app.Config.Handler = b.newHandler(b.cfg)
	return b
}

func (b *bundle) loadConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return b.env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (b *bundle) newHandler(cfg *config.Config) http.Handler {
	return handlers.New(handlers.Deps{
		Config: cfg,
		DB:     b.db,
		Convex: convex.New(convex.Options{BaseURL: cfg.ProvisionHost}),
		Logger: slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}).Routes()
}

// login signs the browser in as a sandbox demo user.
func (b *bundle) login(t *testing.T, c *http.Client, user string) {
	t.Helper()
	webtest.Login(t, c, b.app.URL, b.cfg.OAuthAuthorizeURL, user)
}
