package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"chefdeploy/models"
)

// DeadlineSweeper fails attempts still connecting past their deadline, with
// "Failed to connect to project", and so queues the reconcile that deletes
// what they left behind. Every replica that works jobs runs one. It is not a
// River periodic or scheduled job on purpose: those run only on River's
// elected leader, and after a crash the dead leader's lease held every
// deadline back by up to its length. Failing is guarded, so replicas
// sweeping at once record each failure exactly once.
type DeadlineSweeper struct {
	conns    *Connections
	db       *sqlx.DB
	metrics  *metrics
	logger   *slog.Logger
	interval time.Duration
}

// sweepBatch bounds one sweep; a longer backlog takes several ticks.
const sweepBatch = 100

// Run sweeps at once (a replica that starts after a crash records the
// failures it finds without waiting) and then every interval until ctx ends.
func (s *DeadlineSweeper) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("sweeping expired connections", "err", err)
		}
		if _, err := s.SweepUploads(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("sweeping abandoned uploads", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SweepUploads records failed the deploys whose upload lease ran out (the
// replica uploading them died) and says how many it failed.
func (s *DeadlineSweeper) SweepUploads(ctx context.Context) (int, error) {
	abandoned, err := models.AbandonedUploads(ctx, s.db, sweepBatch)
	if err != nil {
		return 0, err
	}
	failed := 0
	for _, d := range abandoned {
		err := models.FinishDeploy(ctx, s.db, d, models.DeployFailed, models.InterruptedUploadMessage)
		switch {
		case errors.Is(err, models.ErrStale):
			// Finished meanwhile, here or elsewhere.
		case err != nil:
			return failed, err
		default:
			failed++
			s.metrics.deployed(models.DeployFailed)
		}
	}
	return failed, nil
}

// Sweep fails up to a batch of expired attempts and says how many it failed.
func (s *DeadlineSweeper) Sweep(ctx context.Context) (int, error) {
	expired, err := models.ExpiredConnections(ctx, s.db, sweepBatch)
	if err != nil {
		return 0, err
	}
	failed := 0
	for _, c := range expired {
		err := s.conns.Fail(ctx, Failure{
			AppID: c.AppID, Attempt: c.Attempt,
			Message: models.DeadlineMessage, Event: models.EventDeadlineFired,
		})
		switch {
		case errors.Is(err, models.ErrStale):
			// Another replica or the worker itself got there first.
		case err != nil:
			return failed, err
		default:
			failed++
			s.metrics.failed("deadline", models.DeadlineMessage)
		}
	}
	return failed, nil
}
