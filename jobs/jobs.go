// Package jobs is chefdeploy's background work on River, a job queue in the
// same PostgreSQL: provisioning a Convex project for an app, failing an
// attempt at its deadline, and settling projects an attempt left behind.
// Jobs survive restarts and spread over every replica that runs workers.
package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"chefdeploy/config"
	"chefdeploy/convex"
	"chefdeploy/models"
)

// Client is the River client: handlers insert jobs with it, workers run them.
type Client = river.Client[*sql.Tx]

// Deps is what the workers need.
type Deps struct {
	DB       *sqlx.DB
	Convex   *convex.Client
	Config   *config.Config
	Logger   *slog.Logger
	Registry *prometheus.Registry
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
}

// NewClient builds the River client with every worker registered.
func NewClient(d Deps, opts Options) (*Client, error) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.Hooks == nil {
		d.Hooks = &Hooks{}
	}
	p := &provisioner{Deps: d, metrics: newMetrics(d.Registry), keys: newKeyPool(4)}

	workers := river.NewWorkers()
	river.AddWorker(workers, &ProvisionWorker{p: p})
	river.AddWorker(workers, &DeadlineWorker{p: p})
	river.AddWorker(workers, &ReconcileWorker{p: p})
	river.AddWorker(workers, &SweepWorker{p: p})
	river.AddWorker(workers, &DeployWorker{p: p})

	cfg := &river.Config{
		Logger:               slog.New(quietHandler{Handler: d.Logger.Handler(), min: slog.LevelWarn}).With("component", "river"),
		Workers:              workers,
		JobTimeout:           time.Minute,
		RescueStuckJobsAfter: 2 * time.Minute,
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
		cfg.PeriodicJobs = []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(10*time.Second),
				func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
		}
	}
	client, err := river.NewClient(riverdatabasesql.New(d.DB.DB), cfg)
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	return client, nil
}

// EnqueueConnect inserts, in the transaction that started the attempt, the
// job that provisions it and the job that fails it at its deadline.
func EnqueueConnect(ctx context.Context, client *Client, tx *sqlx.Tx, c models.Connection) error {
	if _, err := client.InsertTx(ctx, tx.Tx, ProvisionArgs{AppID: c.AppID, Attempt: c.Attempt}, nil); err != nil {
		return err
	}
	res, err := client.InsertTx(ctx, tx.Tx, DeadlineArgs{AppID: c.AppID, Attempt: c.Attempt},
		&river.InsertOpts{ScheduledAt: c.DeadlineAt})
	if err != nil {
		return err
	}
	return models.SetDeadlineJob(ctx, tx, c.AppID, c.Attempt, res.Job.ID)
}
