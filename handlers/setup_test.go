package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"chefdeploy/config"
	"chefdeploy/credentials"
	"chefdeploy/handlers/webtest"
	"chefdeploy/jobs"
	"chefdeploy/models"
	"chefdeploy/models/dbtest"
	"chefdeploy/replica"
	"chefdeploy/sandbox"
)

// bundle is one running product: a replica served by an httptest.Server, its
// database and the sandbox it talks to, served separately as if it were the
// remote Convex.
type bundle struct {
	tb  testing.TB
	app *httptest.Server
	// db is the first replica's database pool.
	db         *sqlx.DB
	dbURL      string
	cfg        *config.Config
	env        map[string]string
	sandbox    *sandbox.Sandbox
	sandboxURL string
	// logs is what the replicas logged, which tests search for secrets.
	logs *webtest.Buffer
	// tokenCalls counts requests to the sandbox's OAuth token endpoint.
	tokenCalls atomic.Int64
	// sandboxDown makes the sandbox answer 503 to every API call.
	sandboxDown atomic.Bool
	// hostingFailures is how many hosting deploys answer 500 before the sandbox takes them.
	hostingFailures atomic.Int32
	// hostingCalls counts hosting deploy requests that reached the sandbox.
	hostingCalls atomic.Int32
	// sandboxRequests counts every request to the sandbox by method and path.
	sandboxRequests sync.Map // "GET /path" → *atomic.Int64
	// hostingDelay, when set, holds each hosting deploy for between it and
	// twice it before the sandbox reads the body: a slow Convex, at random.
	hostingDelay atomic.Int64
	// teamListings counts the team lists fetched from the sandbox.
	teamListings atomic.Int32
	jobs         *jobs.Queue
	statuses     *models.StatusCache
	sessions     *models.SessionCache
	// replicaOptions are what every replica of the bundle is opened with.
	replicaOptions []replica.Option
	// sites is the first replica's sites handler (platform mode only).
	sites http.Handler
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
	// production keeps the numbers close to production, for benchmarks: the
	// worker polls its queue and Convex calls back off at the production
	// intervals, and the log is formatted as in production but discarded.
	production bool
	// databaseURL, when set, is the database to use instead of a fresh one
	// on the shared server (a private cluster the test may stop).
	databaseURL string
}

func setup(t *testing.T, opts ...func(*setupOptions)) *bundle {
	t.Helper()
	return newBundle(t, opts...)
}

func newBundle(tb testing.TB, opts ...func(*setupOptions)) *bundle {
	tb.Helper()
	var o setupOptions
	for _, opt := range opts {
		opt(&o)
	}
	dbURL := o.databaseURL
	if dbURL == "" {
		_, dbURL = dbtest.New(tb)
	}
	b := &bundle{tb: tb, dbURL: dbURL, logs: &webtest.Buffer{}}

	// The product's server comes first: the sandbox registers its callback.
	b.app = httptest.NewServer(nil)
	tb.Cleanup(b.app.Close)
	sbServer := httptest.NewServer(nil)
	tb.Cleanup(sbServer.Close)
	b.sandboxURL = sbServer.URL
	clientSecret := "test-client-secret"
	expected := clientSecret
	if o.sandboxSecret != "" {
		expected = o.sandboxSecret
	}
	sb, err := sandbox.New(sandbox.Options{
		BaseURL:      sbServer.URL,
		Clients:      map[string]string{"test-client": expected},
		RedirectURIs: map[string]string{"test-client": b.app.URL + "/auth/callback"},
		SlowDelay:    o.slowDelay,

		// Team grants come back to their own callback (CONTRACT §3.2).
		OtherRedirectURIs: map[string][]string{"test-client": {b.app.URL + "/teams/callback"}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(sb.Close)
	b.sandbox = sb
	sbHandler := sb.Handler()
	sbServer.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := b.sandboxRequests.LoadOrStore(r.Method+" "+r.URL.Path, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		if r.URL.Path == "/oauth/token" || r.URL.Path == "/oidc/token" {
			b.tokenCalls.Add(1)
		}
		if r.URL.Path == "/api/dashboard/teams" {
			b.teamListings.Add(1)
		}
		if r.URL.Path == "/api/hosting/deploy" {
			b.hostingCalls.Add(1)
			if d := time.Duration(b.hostingDelay.Load()); d > 0 {
				select { // a slow server, not a wait for an event
				case <-time.After(d + rand.N(d)):
				case <-r.Context().Done():
				}
			}
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

	b.env = map[string]string{
		"DATABASE_URL": dbURL,
		"HTTP_ADDR":    b.app.Listener.Addr().String(),
		"BASE_URL":     b.app.URL,
		// Builder mode unless a test asks for platform (withPlatform).
		"CONVEX_API":                 "builder",
		"PROVISION_HOST":             sbServer.URL,
		"CONVEX_API_URL":             sbServer.URL,
		"CONVEX_OAUTH_AUTHORIZE_URL": sbServer.URL + "/oauth/authorize/team",
		"CONVEX_OAUTH_TOKEN_URL":     sbServer.URL + "/oauth/token",
		"CONVEX_DASHBOARD_URL":       sbServer.URL + "/dashboard",
		"CONVEX_DASHBOARD_EMBED_URL": sbServer.URL + "/dashboard-embedded",
		"CONVEX_SITE_URL_TEMPLATE":   sbServer.URL + "/sites/{deployment}/",
		"CONVEX_OAUTH_CLIENT_ID":     "test-client",
		"CONVEX_OAUTH_CLIENT_SECRET": clientSecret,
		// The sandbox registers its clients for its OAuth server and its
		// OIDC provider alike: one client serves both here.
		"OIDC_ISSUER_URL":    sbServer.URL + "/oidc",
		"OIDC_CLIENT_ID":     "test-client",
		"OIDC_CLIENT_SECRET": clientSecret,
		"SESSION_SECRET":     "test-session-secret-0123456789abcdef",
		"METRICS_TOKEN":      testMetricsToken,
		"CREDENTIALS_KEY":    credentials.GenerateSpec("t1"),
		// Tests log in, create and connect far more often than people do;
		// the ones about rate limits set their own.
		"LOGIN_RATE_LIMIT":  "off",
		"ACTION_RATE_LIMIT": "off",
		// Each working replica tops up the auth key stock: a few keys, not
		// production's 200 at ~50 ms of a core each.
		"AUTH_KEY_STOCK": "2",
	}
	for k, v := range o.env {
		b.env[k] = v
	}
	b.cfg = b.loadConfig(tb)

	if o.production {
		b.replicaOptions = []replica.Option{replica.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
	} else {
		b.replicaOptions = []replica.Option{
			replica.WithLogger(b.logger()),
			replica.WithJobPollInterval(20 * time.Millisecond),
			replica.WithDeadlineSweepInterval(50 * time.Millisecond),
			replica.WithConvexBackoff(20 * time.Millisecond),
		}
	}
	first := []replica.Option{replica.WithJobHooks(o.hooks)}
	if o.noWorker {
		first = append(first, replica.WithoutWorkers())
	}
	r := b.startReplica(tb, b.cfg, first...)
	b.db, b.jobs, b.statuses, b.sessions = r.DB(), r.Jobs(), r.Statuses(), r.Sessions()
	b.app.Config.Handler = r.Handler()
	if h := r.SitesHandler(); h != nil {
		b.sites = h
	}
	return b
}

// sandboxHits is how many requests the sandbox got so far whose path starts
// with prefix, by "METHOD path".
func (b *bundle) sandboxHits(prefix string) map[string]int64 {
	out := map[string]int64{}
	b.sandboxRequests.Range(func(k, v any) bool {
		if _, path, _ := strings.Cut(k.(string), " "); strings.HasPrefix(path, prefix) {
			out[k.(string)] = v.(*atomic.Int64).Load()
		}
		return true
	})
	return out
}

// testMetricsToken is the bearer the tests' products serve /metrics to.
const testMetricsToken = "test-metrics-token"

func (b *bundle) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startReplica opens one more replica of the product on the bundle's
// database and runs it until the test ends; it serves no HTTP of its own
// (serve its Handler). It returns once the replica's caches listen.
func (b *bundle) startReplica(tb testing.TB, cfg *config.Config, opts ...replica.Option) *replica.Replica {
	tb.Helper()
	opts = append(append([]replica.Option{replica.WithoutListener()}, b.replicaOptions...), opts...)
	r, err := replica.Open(context.Background(), cfg, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- r.Run(ctx) }()
	tb.Cleanup(func() {
		// Running jobs are cancelled rather than given the grace period a
		// deployment would give them.
		stopCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		if err := r.Jobs().StopAndCancel(stopCtx); err != nil {
			tb.Errorf("stopping the workers: %v", err)
		}
		cancel()
		if err := <-stopped; err != nil {
			tb.Errorf("replica: %v", err)
		}
		if err := r.Close(); err != nil {
			tb.Errorf("closing the replica: %v", err)
		}
	})

	deadline := time.After(10 * time.Second)
	select {
	case <-r.Ready():
	case err := <-stopped:
		stopped <- err
		tb.Fatalf("the replica stopped before it was ready: %v", err)
	case <-deadline:
		tb.Fatal("the replica did not start within 10s")
	}
	for !r.Listening() {
		select {
		case <-deadline:
			tb.Fatal("the replica's caches were not listening after 10s")
		case <-time.After(5 * time.Millisecond):
		}
	}
	return r
}

// startWorker starts one more replica whose workers run the jobs, as on
// another replica or after a restart; work=false makes it insert-only.
func (b *bundle) startWorker(t *testing.T, hooks *jobs.Hooks, work bool) *jobs.Queue {
	t.Helper()
	opts := []replica.Option{replica.WithJobHooks(hooks)}
	if !work {
		opts = append(opts, replica.WithoutWorkers())
	}
	return b.startReplica(t, b.cfg, opts...).Jobs()
}

func (b *bundle) loadConfig(tb testing.TB) *config.Config {
	tb.Helper()
	cfg, err := config.Load(func(k string) string { return b.env[k] })
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// newHandler is the handler of a new web-only replica with settings cfg, on
// the same database: a restart of the process.
func (b *bundle) newHandler(cfg *config.Config) http.Handler {
	b.tb.Helper()
	return b.startReplica(b.tb, cfg, replica.WithoutWorkers()).Handler()
}

// login signs the browser in as a sandbox demo user.
func (b *bundle) login(t *testing.T, c *http.Client, user string) {
	t.Helper()
	webtest.Login(t, c, b.app.URL, b.authorizeURL(), user)
}

// authorizeURL is the sandbox's OIDC sign-in page, where the login goes.
func (b *bundle) authorizeURL() string {
	return b.cfg.OIDCIssuerURL + "/authorize"
}
