// Package jobs is chefdeploy's background work on River, a job queue in the
// same PostgreSQL, and the owner of the connection state machine
// (Connections): provisioning a Convex project for an app, failing attempts
// past their deadline (DeadlineSweeper), deleting projects that attempts left
// unused, deleting a dropped connection's deploy key, and uploading deploys
// to Convex hosting. The connection flow sees Convex through one
// convex.Backend, whichever CONVEX_API mode the product was wired with. Jobs
// survive restarts and spread over every replica that runs workers.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"chefdeploy/config"
	"chefdeploy/convex"
)

// Client is the River client: handlers insert jobs with it, workers run them.
type Client = river.Client[*sql.Tx]

// Deps is what the workers need.
type Deps struct {
	DB *sqlx.DB
	// Backend is Convex for the connection flow, in the mode the product
	// runs in; nil = builder mode over Convex.
	Backend convex.Backend
	// CredentialSource finds what Backend calls act with; nil = the
	// owner's login token (builder mode).
	CredentialSource CredentialSource
	// Convex is the provision-host client: hosting uploads.
	Convex *convex.Client
	// Publisher makes deploys live; nil = uploads to the Backend's
	// hosting (builder mode). A Backend without hosting (platform mode)
	// needs one: the replica gives it the sites publisher.
	Publisher Publisher
	Config    *config.Config
	Logger    *slog.Logger
	Registry  *prometheus.Registry
	// Hooks lets tests stop a worker at a chosen point; nil in production.
	Hooks *Hooks
}

// Hooks are called at points of provisioning where a crash is most
// interesting. A hook that blocks until its context ends simulates a worker
// that dies there.
type Hooks struct {
	// AfterCreateProject runs once create_project answered, before its answer
	// is recorded.
	AfterCreateProject func(ctx context.Context, appID string)
	// AfterProjectRecorded runs between create_project and authorize.
	AfterProjectRecorded func(ctx context.Context, appID string)
}

// Options shape the client.
type Options struct {
	// Work makes the client run jobs; without it the client only inserts
	// (a web-only replica).
	Work bool
	// MaxWorkers is how many jobs one replica runs at once; 0 = 50.
	MaxWorkers int
	// PollInterval is how often an idle replica looks for new jobs; 0 = 50ms.
	// The database/sql driver has no LISTEN, so this bounds how long a new
	// Connect waits for a worker.
	PollInterval time.Duration
	// SweepInterval is how often the deadline sweeper looks for expired
	// attempts; 0 = 1s, so a failure is recorded within a second of its
	// deadline.
	SweepInterval time.Duration
}

// rescueStuckJobsAfter is when River takes a running job for dead and runs
// it again: after the longest job, so that no live job runs twice.
const rescueStuckJobsAfter = longestJob + time.Minute

// Queue is the job client with what runs beside it: the owner of connection
// transitions, and the deadline sweeper and auth key filler every working
// replica runs.
type Queue struct {
	*Client
	Connections *Connections
	sweeper     *DeadlineSweeper
	keys        *authKeySource
	stopLoops   context.CancelFunc
	filling     sync.WaitGroup
	work        bool
}

// NewQueue builds the River client with every worker registered.
func NewQueue(d Deps, opts Options) (*Queue, error) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.Hooks == nil {
		d.Hooks = &Hooks{}
	}
	if d.Backend == nil {
		d.Backend = convex.NewBuilder(d.Convex, convex.OAuthApp{ClientID: d.Config.OAuthClientID, ClientSecret: d.Config.OAuthClientSecret})
	}
	if d.Publisher == nil {
		hosting := d.Backend.Hosting()
		if hosting == nil {
			return nil, errors.New("jobs: the Convex backend has no hosting, and no Publisher was given")
		}
		d.Publisher = HostingPublisher{Hosting: hosting}
	}
	if d.CredentialSource == nil {
		d.CredentialSource = LoginTokens{DB: d.DB, Keys: d.Config.Credentials}
	}
	m := newMetrics(d.Registry)
	keys := newAuthKeySource(d.DB, d.Config.Credentials, d.Config.AuthKeyStock, m.inline,
		slog.New(newRepeatFilter(d.Logger.Handler(), repeatQuiet)).With("component", "auth-key-stock"))
	deps := &workerDeps{Deps: d, metrics: m, keys: keys}
	d.Registry.MustRegister(newQueueCollector(d.DB))

	workers := river.NewWorkers()
	river.AddWorker(workers, &ProvisionWorker{deps: deps})
	river.AddWorker(workers, &ReconcileWorker{deps: deps})
	river.AddWorker(workers, &DeployWorker{deps: deps})
	river.AddWorker(workers, &DeleteDeployKeyWorker{deps: deps})

	cfg := &river.Config{
		Logger:     slog.New(quietHandler{Handler: newRepeatFilter(d.Logger.Handler(), repeatQuiet), min: slog.LevelWarn}).With("component", "river"),
		Workers:    workers,
		JobTimeout: time.Minute,
		// River rescues (and runs again) a job still running after this
		// long, whatever the worker's own Timeout: it must outlast the
		// longest one, a deploy's, or a slow upload would run twice at once.
		// Nothing that must happen soon after a crash waits for it: the
		// deadline sweeper records connections, and a deploy's upload lease
		// expires on its own.
		RescueStuckJobsAfter: rescueStuckJobsAfter,
	}
	if opts.Work {
		maxWorkers := opts.MaxWorkers
		if maxWorkers == 0 {
			maxWorkers = 50
		}
		poll := opts.PollInterval
		if poll == 0 {
			poll = 50 * time.Millisecond
		}
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}}
		cfg.FetchPollInterval = poll
		cfg.FetchCooldown = min(poll, 10*time.Millisecond)
	}
	client, err := river.NewClient(riverdatabasesql.New(d.DB.DB), cfg)
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	deps.connections = NewConnections(d.DB, client, d.Config.ConnectionDeadline)
	sweep := opts.SweepInterval
	if sweep == 0 {
		sweep = time.Second
	}
	return &Queue{
		Client:      client,
		Connections: deps.connections,
		keys:        keys,
		work:        opts.Work,
		sweeper: &DeadlineSweeper{
			conns: deps.connections, db: d.DB, metrics: deps.metrics,
			logger:   slog.New(newRepeatFilter(d.Logger.Handler(), repeatQuiet)).With("component", "deadline-sweeper"),
			interval: sweep,
		},
	}, nil
}

// Start starts the workers, the deadline sweeper and the auth key filler
// (unless AUTH_KEY_STOCK is 0), when this replica works jobs. Stop or
// StopAndCancel ends them all.
func (q *Queue) Start(ctx context.Context) error {
	if !q.work {
		return nil
	}
	if err := q.Client.Start(ctx); err != nil {
		return err
	}
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	q.stopLoops = stop
	go q.sweeper.Run(loopCtx)
	if q.keys.target > 0 {
		q.filling.Go(func() { q.keys.fill(loopCtx) })
	}
	return nil
}

// Stop stops the sweeper and the filler, then lets running jobs finish
// until ctx ends.
func (q *Queue) Stop(ctx context.Context) error {
	q.haltLoops()
	if !q.work {
		return nil
	}
	return q.Client.Stop(ctx)
}

// StopAndCancel stops the sweeper and the filler and cancels running jobs,
// as a replica that dies would leave them.
func (q *Queue) StopAndCancel(ctx context.Context) error {
	q.haltLoops()
	if !q.work {
		return nil
	}
	return q.Client.StopAndCancel(ctx)
}

// haltLoops waits for the filler, which writes to the database the caller
// is about to close (at most one key's generation).
func (q *Queue) haltLoops() {
	if q.stopLoops != nil {
		q.stopLoops()
	}
	q.filling.Wait()
}

// Sweeper is the replica's deadline sweeper, for tests that sweep by hand.
func (q *Queue) Sweeper() *DeadlineSweeper { return q.sweeper }
