// Package replica is one running replica of chefdeploy: its database pool,
// job queue client, caches, handlers, the built-in sandbox when configured,
// and the HTTP server in front of them. It is the one place the product is
// put together, for `chefdeploy serve` and for every test and benchmark.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"chefdeploy/config"
	"chefdeploy/convex"
	"chefdeploy/handlers"
	"chefdeploy/jobs"
	"chefdeploy/models"
	"chefdeploy/sandbox"
	"chefdeploy/sites"
)

// requestGrace is how long in-flight requests get to finish once Run's
// context ends (uploads still receiving their body are cut off at once);
// jobGrace is how long running jobs get after that before they are
// cancelled, and jobCancelGrace how long cancelled jobs get to return.
const (
	requestGrace   = 10 * time.Second
	jobGrace       = 10 * time.Second
	jobCancelGrace = 5 * time.Second
)

// Replica is the product built from one config. Open builds it, Run serves
// it until its context ends, Close releases what Open took.
type Replica struct {
	cfg      *config.Config
	log      *slog.Logger
	db       *sqlx.DB
	jobs     *jobs.Queue
	working  bool
	statuses *models.StatusCache
	sessions *models.SessionCache
	sandbox  *sandbox.Sandbox
	handler  http.Handler
	listener net.Listener // nil WithoutListener
	server   *http.Server
	pprof    *http.Server // nil without PPROF_ADDR
	pprofL   net.Listener
	ready    chan struct{}

	// The sites listener (platform mode, CONTRACT §2.5); nil in builder
	// mode. liveSites is what each deployment's site serves.
	liveSites     *models.SiteCache
	sitesHandler  *sites.Handler
	sitesListener net.Listener // nil WithoutListener
	sitesServer   *http.Server
}

// Option changes how Open builds a replica; production uses none but the
// logger.
type Option func(*options)

type options struct {
	logger        *slog.Logger
	noListener    bool
	noWorkers     bool
	hooks         *jobs.Hooks
	pollInterval  time.Duration
	sweepInterval time.Duration
	convexBackoff time.Duration
}

// WithLogger sends the replica's log lines to logger (the default is
// slog.Default()).
func WithLogger(logger *slog.Logger) Option { return func(o *options) { o.logger = logger } }

// WithoutListener makes a replica that listens on nothing and whose Run
// serves no HTTP: the caller serves Handler() (tests put it behind an
// httptest.Server, whose address the config already names).
func WithoutListener() Option { return func(o *options) { o.noListener = true } }

// WithoutWorkers makes a replica that inserts jobs but runs none, as a
// web-only replica would.
func WithoutWorkers() Option { return func(o *options) { o.noWorkers = true } }

// WithJobHooks stops the replica's workers at chosen points (tests only).
func WithJobHooks(h *jobs.Hooks) Option { return func(o *options) { o.hooks = h } }

// WithJobPollInterval is how often idle workers look for new jobs (0 keeps
// the production interval).
func WithJobPollInterval(d time.Duration) Option { return func(o *options) { o.pollInterval = d } }

// WithDeadlineSweepInterval is how often the replica's deadline sweeper
// looks for expired attempts (0 keeps the production interval).
func WithDeadlineSweepInterval(d time.Duration) Option {
	return func(o *options) { o.sweepInterval = d }
}

// WithConvexBackoff is the first retry delay of calls to Convex (0 keeps the
// production delay).
func WithConvexBackoff(d time.Duration) Option { return func(o *options) { o.convexBackoff = d } }

// Open builds the replica in order: database, migrations, job queue client,
// caches, sandbox (when cfg.Sandbox), handlers, and the listener on
// cfg.HTTPAddr. Nothing runs until Run.
func Open(ctx context.Context, cfg *config.Config, opts ...Option) (r *Replica, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	r = &Replica{cfg: cfg, log: o.logger, working: !o.noWorkers, ready: make(chan struct{})}
	// On failure what was opened is released: the replica itself, since
	// the r returned with the error is nil.
	opened := r
	defer func() {
		if err != nil {
			opened.Close()
		}
	}()

	// What a killed replica left in the temporary directory goes first.
	if n, err := sweepTempFiles(cfg.UploadTempDir, staleTempFileAge, time.Now()); err != nil {
		r.log.Warn("removing leftover temporary files", "dir", cfg.UploadTempDir, "removed", n, "err", err)
	} else if n > 0 {
		r.log.Info("removed leftover temporary files", "dir", cfg.UploadTempDir, "removed", n)
	}

	r.db, err = models.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := models.Migrate(ctx, r.db.DB); err != nil {
		return nil, err
	}

	registry := prometheus.NewRegistry()
	// go_sql_open_connections{db_name="chefdeploy"} and the pool's other
	// gauges: what this replica holds of PostgreSQL's connections.
	registry.MustRegister(collectors.NewDBStatsCollector(r.db.DB, "chefdeploy"))
	convexClient := convex.New(convex.Options{
		BaseURL:      cfg.ProvisionHost,
		DeploySecret: cfg.HostingDeploySecret,
		BaseBackoff:  o.convexBackoff,
	})
	mode := convexMode(cfg, convexClient, r.db, o.convexBackoff)
	backend, creds, teams, publisher := mode.backend, mode.creds, mode.teams, mode.publisher
	if publisher != nil {
		r.liveSites = models.NewSiteCache(r.db, r.log)
		r.sitesHandler = sites.NewHandler(cfg, r.db, r.liveSites, r.log.With("component", "sites"))
	}
	r.jobs, err = jobs.NewQueue(jobs.Deps{
		DB: r.db, Backend: backend, CredentialSource: creds, Publisher: publisher,
		Convex: convexClient, Config: cfg, Logger: r.log, Registry: registry, Hooks: o.hooks,
	}, jobs.Options{Work: r.working, PollInterval: o.pollInterval, SweepInterval: o.sweepInterval})
	if err != nil {
		return nil, err
	}
	r.statuses = models.NewStatusCache(r.db, r.log)
	r.sessions = models.NewSessionCache(r.db, r.log)
	registerCacheMetrics(registry, "status", r.statuses.Stats)
	registerCacheMetrics(registry, "session", r.sessions.Stats)
	deps := handlers.Deps{
		Config:      cfg,
		DB:          r.db,
		Logger:      r.log,
		Registry:    registry,
		Convex:      convexClient,
		Backend:     backend,
		Credentials: creds,
		Teams:       teams,
		Jobs:        r.jobs,
		Statuses:    r.statuses,
		Sessions:    r.sessions,
	}
	if cfg.Sandbox {
		// The sandbox registers both of our clients: the Convex OAuth
		// application and the login's OIDC client, whose callback is the
		// login's.
		r.sandbox, err = sandbox.New(sandbox.Options{
			BaseURL:  cfg.BaseURL + config.SandboxPath,
			StateDir: cfg.SandboxStateDir,
			Clients: map[string]string{
				cfg.OAuthClientID: cfg.OAuthClientSecret,
				cfg.OIDCClientID:  cfg.OIDCClientSecret,
			},
			RedirectURIs: map[string]string{
				cfg.OAuthClientID: cfg.RedirectURL(),
				cfg.OIDCClientID:  cfg.RedirectURL(),
			},
			DeploySecret: cfg.HostingDeploySecret,
			Logger:       r.log.With("component", "sandbox"),

			// Team grants come back to their own callback (CONTRACT §3.2).
			OtherRedirectURIs: map[string][]string{cfg.OAuthClientID: {cfg.BaseURL + handlers.TeamsCallbackPath}},
		})
		if err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		deps.Sandbox = r.sandbox.Handler()
	}
	web := handlers.New(deps)
	r.handler = web.Routes()

	if !o.noListener {
		r.listener, err = net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("listening on %s: %w", cfg.HTTPAddr, err)
		}
		r.server = &http.Server{
			Handler:           r.handler,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
		}
		// Shutdown stops accepting, then cuts off uploads still receiving
		// their body (their handlers answer 503 and remove their temporary
		// files) while short requests finish.
		r.server.RegisterOnShutdown(web.StopUploads)
		if r.sitesHandler != nil {
			r.sitesListener, err = net.Listen("tcp", cfg.SitesAddr)
			if err != nil {
				return nil, fmt.Errorf("listening on %s (SITES_ADDR): %w", cfg.SitesAddr, err)
			}
			r.sitesServer = sites.NewServer(r.sitesHandler, r.log)
		}
	}
	if cfg.PprofAddr != "" {
		r.pprofL, err = net.Listen("tcp", cfg.PprofAddr)
		if err != nil {
			return nil, fmt.Errorf("listening on PPROF_ADDR %s: %w", cfg.PprofAddr, err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		r.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	}
	return r, nil
}

// convexMode is the one place the CONVEX_API mode is chosen: the Backend
// the connection flow and the handlers call, the CredentialSource those
// calls act with, where the team selector's teams come from, and the
// Publisher that makes deploys live.
//   - builder: the provision host with the login's access token, the teams
//     it lists, and Convex hosting the sites (no publisher: the deploy
//     worker uploads to Backend.Hosting());
//   - platform: the public Management API with the owner's team grants,
//     which are also the teams; Convex has no public hosting, so we host
//     the sites (the sites package's publisher, CONTRACT §2.5).
func convexMode(cfg *config.Config, client *convex.Client, db *sqlx.DB, backoff time.Duration) convexWiring {
	var m convexWiring
	if cfg.ConvexAPI == config.ConvexAPIBuilder {
		app := convex.OAuthApp{ClientID: cfg.OAuthClientID, ClientSecret: cfg.OAuthClientSecret}
		m = convexWiring{convex.NewBuilder(client, app), jobs.LoginTokens{DB: db, Keys: cfg.Credentials}, handlers.TeamsFromProvisionHost, nil}
	} else {
		platform := convex.NewPlatform(convex.Options{BaseURL: cfg.ConvexAPIURL, BaseBackoff: backoff})
		m = convexWiring{convex.NewPlatformBackend(platform), jobs.TeamGrants{DB: db, Keys: cfg.Credentials}, handlers.TeamsFromGrants, nil}
	}
	if m.backend.Hosting() == nil {
		m.publisher = sites.Publisher{DB: db, TempDir: cfg.UploadTempDir}
	}
	return m
}

// convexWiring is what convexMode chose.
type convexWiring struct {
	backend   convex.Backend
	creds     jobs.CredentialSource
	teams     handlers.TeamSource
	publisher jobs.Publisher // nil: Convex hosts the sites
}

// registerCacheMetrics exports a cache's hits and misses
// (chefdeploy_cache_hits_total{cache=…}, chefdeploy_cache_misses_total):
// each miss is one query, so their ratio is the database load of polling.
func registerCacheMetrics(reg *prometheus.Registry, name string, stats func() (hits, misses uint64)) {
	labels := prometheus.Labels{"cache": name}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chefdeploy_cache_hits_total", Help: "Reads a cache served from memory.", ConstLabels: labels},
			func() float64 { h, _ := stats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chefdeploy_cache_misses_total", Help: "Reads a cache sent to the database.", ConstLabels: labels},
			func() float64 { _, m := stats(); return float64(m) }),
	)
}

// loop is a part of the replica that runs beside the server until Run's
// context ends.
type loop struct {
	name string
	run  func(ctx context.Context) error
}

// loops are the replica's background parts. Each replica runs its own; work
// that must happen once for the whole fleet belongs in a job instead.
func (r *Replica) loops() []loop {
	loops := []loop{
		{"status cache listener", func(ctx context.Context) error { return r.statuses.Run(ctx, r.cfg.DatabaseURL) }},
		{"session cache listener", func(ctx context.Context) error { return r.sessions.Run(ctx, r.cfg.DatabaseURL) }},
	}
	if r.liveSites != nil {
		loops = append(loops, loop{"site cache listener", func(ctx context.Context) error { return r.liveSites.Run(ctx, r.cfg.DatabaseURL) }})
	}
	return loops
}

// Run starts the background loops and the job workers, then serves until
// ctx ends; then it shuts down the server, letting in-flight requests
// finish, then the workers, then the loops. Run is called once.
func (r *Replica) Run(ctx context.Context) error {
	// Background parts outlive ctx: they stop after the server has.
	background, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var loops sync.WaitGroup
	defer func() {
		stopBackground()
		loops.Wait()
	}()
	for _, l := range r.loops() {
		loops.Go(func() {
			if err := l.run(background); err != nil {
				r.log.Error(l.name+" stopped", "err", err)
			}
		})
	}
	if r.working {
		if err := r.jobs.Start(background); err != nil {
			return fmt.Errorf("job queue: %w", err)
		}
	}
	if r.pprof != nil {
		go r.pprof.Serve(r.pprofL)
		defer r.pprof.Close()
	}
	serveErr := make(chan error, 2)
	if r.server != nil {
		go func() { serveErr <- r.server.Serve(r.listener) }()
	}
	if r.sitesServer != nil {
		go func() { serveErr <- r.sitesServer.Serve(r.sitesListener) }()
	}
	close(r.ready)

	var err error
	select {
	case err = <-serveErr:
	case <-ctx.Done():
	}
	// In order: stop accepting and finish the requests (uploads cut off),
	// then the workers, then (deferred above) the loops; the caller closes
	// the database after Run returns, so nothing still uses it then.
	if r.server != nil && err == nil {
		r.log.Info("shutting down: finishing in-flight requests")
		reqCtx, cancel := context.WithTimeout(context.Background(), requestGrace)
		if serr := r.server.Shutdown(reqCtx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			r.log.Warn("requests still running after the grace period; closing their connections", "grace", requestGrace)
			r.server.Close()
		}
		cancel()
	}
	if r.sitesServer != nil {
		// Sites answer quickly: whatever is still running after the
		// product's grace is cut off.
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if serr := r.sitesServer.Shutdown(sctx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			r.sitesServer.Close()
		}
		cancel()
	}
	// Running jobs get their own grace period; then they are cancelled, and
	// River retries them on another replica (or this one after a restart).
	// Either way River has stopped, its leadership resigned, before Run
	// returns. The deadline sweeper stops with them.
	r.log.Info("shutting down: stopping the workers")
	jobCtx, cancel := context.WithTimeout(context.Background(), jobGrace)
	defer cancel()
	if serr := r.jobs.Stop(jobCtx); serr != nil {
		r.log.Warn("jobs still running after the grace period; cancelling them", "grace", jobGrace)
		cancelCtx, cancel := context.WithTimeout(context.Background(), jobCancelGrace)
		defer cancel()
		if serr := r.jobs.StopAndCancel(cancelCtx); serr != nil {
			r.log.Error("the job queue did not stop", "err", serr)
		}
	}
	return err
}

// Ready is closed once Run has started the loops, the workers and the server.
func (r *Replica) Ready() <-chan struct{} { return r.ready }

// Listening reports whether every cache hears every change, so they serve
// from memory.
func (r *Replica) Listening() bool {
	return r.statuses.Listening() && r.sessions.Listening() && (r.liveSites == nil || r.liveSites.Listening())
}

// SitesHandler is the sites listener's handler (platform mode; nil in
// builder mode), for tests that serve it themselves WithoutListener.
func (r *Replica) SitesHandler() *sites.Handler { return r.sitesHandler }

// Handler is every route of the product, as the replica's server serves it.
func (r *Replica) Handler() http.Handler { return r.handler }

// DB is the replica's database pool.
func (r *Replica) DB() *sqlx.DB { return r.db }

// Jobs is the replica's job queue: the River client, the owner of
// connection transitions and the deadline sweeper.
func (r *Replica) Jobs() *jobs.Queue { return r.jobs }

// Statuses is the replica's status cache.
func (r *Replica) Statuses() *models.StatusCache { return r.statuses }

// Sessions is the replica's session cache.
func (r *Replica) Sessions() *models.SessionCache { return r.sessions }

// Close releases what Open took: the listener (when Run did not serve), the
// sandbox's blocked handlers and the database pool. Call it after Run has
// returned.
func (r *Replica) Close() error {
	var errs []error
	for _, l := range []net.Listener{r.listener, r.sitesListener, r.pprofL} {
		if l == nil {
			continue
		}
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if r.sandbox != nil {
		r.sandbox.Close()
	}
	if r.db != nil {
		errs = append(errs, r.db.Close())
	}
	return errors.Join(errs...)
}
