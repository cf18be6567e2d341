package jobs

import (
	"context"
	"errors"

	"github.com/riverqueue/river"

	"chefdeploy/models"
)

// DeadlineArgs fails an attempt still connecting at its deadline. It is
// inserted with the attempt, scheduled at the deadline, and cancelled by the
// worker that finishes first.
type DeadlineArgs struct {
	AppID   string `json:"app_id"`
	Attempt int    `json:"attempt"`
}

// Kind names the job in River's table.
func (DeadlineArgs) Kind() string { return "connection_deadline" }

// InsertOpts: the update is guarded, so retries are safe.
func (DeadlineArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 10} }

// DeadlineWorker marks a late attempt failed with "Failed to connect to project".
type DeadlineWorker struct {
	river.WorkerDefaults[DeadlineArgs]
	p *provisioner
}

// Work fails the attempt if it is still the current one and still connecting.
func (w *DeadlineWorker) Work(ctx context.Context, job *river.Job[DeadlineArgs]) error {
	c, err := models.ConnectionByApp(ctx, w.p.DB, job.Args.AppID)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.State != models.StateConnecting || c.Attempt != job.Args.Attempt {
		return nil
	}
	if err := w.p.fail(ctx, c, models.DeadlineMessage, "deadline"); err != nil && !isCancel(err) {
		return err
	}
	return nil
}

func isCancel(err error) bool {
	var cancel *river.JobCancelError
	return errors.As(err, &cancel)
}

// SweepArgs is the periodic backstop: any attempt past its deadline whose
// deadline job was lost is failed here.
type SweepArgs struct{}

// Kind names the job in River's table.
func (SweepArgs) Kind() string { return "connection_sweep" }

// SweepWorker fails connections left connecting past their deadline.
type SweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	p *provisioner
}

// Work fails up to a batch of expired attempts.
func (w *SweepWorker) Work(ctx context.Context, job *river.Job[SweepArgs]) error {
	expired, err := models.ExpiredConnections(ctx, w.p.DB, 100)
	if err != nil {
		return err
	}
	for _, c := range expired {
		if err := w.p.fail(ctx, c, models.DeadlineMessage, "deadline"); err != nil && !isCancel(err) {
			return err
		}
	}
	return nil
}
