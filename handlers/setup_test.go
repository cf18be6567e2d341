package handlers_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"chefdeploy/config"
	"chefdeploy/convex"
	"chefdeploy/credentials"
	"chefdeploy/handlers"
	"chefdeploy/handlers/webtest"
	"chefdeploy/jobs"
	"chefdeploy/models"
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
	// sandboxDown makes the sandbox answer 503 to every API call.
	sandboxDown atomic.Bool
	// hostingFailures is how many hosting deploys answer 500 before the sandbox takes them.
	hostingFailures atomic.Int32
	// hostingCalls counts hosting deploy requests that reached the sandbox.
	hostingCalls atomic.Int32
	jobs         *jobs.Queue
	statuses     *models.StatusCache
	sessions     *models.SessionCache
	convex       *convex.Client
}

type setupOptions struct {
	// sandboxSecret, when set, is the client secret the sandbox expects,
	// different from what the product sends.
	sandboxSecret string
	env           map[string]string
	// hooks stop the worker at chosen points.
	hooks *jobs.Hooks
	// noWorker leaves the jobs unworked, for tests that start workers themselves.
	noWorker  bool
	slowDelay time.Duration
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
		BaseURL:   sbServer.URL,
		Clients:   map[string]string{"test-client": expected},
		SlowDelay: o.slowDelay,
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
		if r.URL.Path == "/api/hosting/deploy" {
			b.hostingCalls.Add(1)
			if b.hostingFailures.Add(-1) >= 0 {
				io.Copy(io.Discard, r.Body)
				http.Error(w, `{"code":"InternalError"}`, http.StatusInternalServerError)
				return
			}
		}
		if b.sandboxDown.Load() && strings.HasPrefix(r.URL.Path, "/api/") {
			http.Error(w, `{"code":"Unavailable"}`, http.StatusServiceUnavailable)
			return
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
		"CONVEX_DASHBOARD_URL":       sbServer.URL + "/dashboard",
		"CONVEX_SITE_URL_TEMPLATE":   sbServer.URL + "/sites/{deployment}/",
		"CONVEX_OAUTH_CLIENT_ID":     "test-client",
		"CONVEX_OAUTH_CLIENT_SECRET": clientSecret,
		"SESSION_SECRET":             "test-session-secret-0123456789abcdef",
		"CREDENTIALS_KEY":            credentials.GenerateSpec("t1"),
	}
	for k, v := range o.env {
		b.env[k] = v
	}
	b.cfg = b.loadConfig(t)
	b.convex = convex.New(convex.Options{BaseURL: b.cfg.ProvisionHost, BaseBackoff: 20 * time.Millisecond})

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b.statuses = models.NewStatusCache(db, b.logger())
	b.sessions = models.NewSessionCache(db, b.logger())
	go b.statuses.Run(ctx, dbURL)
	go b.sessions.Run(ctx, dbURL)
	for !b.statuses.Listening() || !b.sessions.Listening() {
		time.Sleep(5 * time.Millisecond)
	}
	b.jobs = b.startWorker(t, o.hooks, !o.noWorker)
	b.app.Config.Handler = b.newHandler(b.cfg)
	return b
}

func (b *bundle) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startWorker starts a River client as one replica's worker would; work=false
// makes an insert-only client.
func (b *bundle) startWorker(t *testing.T, hooks *jobs.Hooks, work bool) *jobs.Queue {
	t.Helper()
	client, err := jobs.NewQueue(jobs.Deps{
		DB: b.db, Convex: b.convex, Config: b.cfg, Logger: b.logger(), Hooks: hooks,
	}, jobs.Options{Work: work, PollInterval: 20 * time.Millisecond, SweepInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if work {
		if err := client.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			client.StopAndCancel(ctx)
		})
	}
	return client
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
		Config:   cfg,
		DB:       b.db,
		Convex:   b.convex,
		Logger:   b.logger(),
		Jobs:     b.jobs,
		Statuses: b.statuses,
		Sessions: b.sessions,
	}).Routes()
}

// login signs the browser in as a sandbox demo user.
func (b *bundle) login(t *testing.T, c *http.Client, user string) {
	t.Helper()
	webtest.Login(t, c, b.app.URL, b.cfg.OAuthAuthorizeURL, user)
}
