package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"chefdeploy/models"
)

// Connections owns the connection state machine. Each transition (start,
// step, complete, fail, disconnect) is one method that opens the transaction,
// writes the row under its guard, records the audit event in that same
// transaction, enqueues the work that follows with InsertTx, and returns
// every error. Handlers, workers, the deadline sweeper and the support
// console all go through it; none repeats its SQL.
type Connections struct {
	db       *sqlx.DB
	queue    *Client
	deadline time.Duration
}

// NewConnections builds the owner of the connection state machine; queue
// inserts the jobs that follow a transition.
func NewConnections(db *sqlx.DB, queue *Client, deadline time.Duration) *Connections {
	return &Connections{db: db, queue: queue, deadline: deadline}
}

// Start asks for a connection of the app to team.
type Start struct {
	ActorID string
	AppID   string
	Team    string
	// SealedToken is the actor's Convex token, sealed for the worker, which
	// acts on the user's behalf with it.
	SealedToken string
}

// Start moves the app to connecting with a new attempt and enqueues its
// provisioning, unless an attempt is in flight: then it returns that one and
// started=false. The actor's token is stored with it.
func (cs *Connections) Start(ctx context.Context, s Start) (c models.Connection, started bool, err error) {
	err = cs.inTx(ctx, func(tx *sqlx.Tx) error {
		var expired *models.Connection
		c, started, expired, err = models.BeginConnect(ctx, tx, s.AppID, s.Team, cs.deadline)
		if err != nil || !started {
			return err
		}
		if expired != nil {
			// The old attempt ran out of time and nothing recorded it yet;
			// the new one supersedes it, so its end is recorded here, once.
			if err := models.RecordEvent(ctx, tx, "", s.AppID, models.EventDeadlineFired, models.DeadlineMessage); err != nil {
				return err
			}
		}
		if err := models.SetUserToken(ctx, tx, s.ActorID, s.SealedToken); err != nil {
			return err
		}
		if err := models.RecordEvent(ctx, tx, s.ActorID, s.AppID, models.EventConnectStarted, "team "+s.Team); err != nil {
			return err
		}
		_, err := cs.queue.InsertTx(ctx, tx.Tx, ProvisionArgs{AppID: c.AppID, Attempt: c.Attempt}, nil)
		return err
	})
	return c, started, err
}

// Step records the provisioning step in progress; ErrStale when the attempt
// is no longer the current, connecting one before its deadline.
func (cs *Connections) Step(ctx context.Context, db sqlx.ExtContext, appID string, attempt int, step string) error {
	return models.SetStep(ctx, db, appID, attempt, step)
}

// Complete stores the connected project, if the attempt is still current,
// and marks the attempt's project in use.
func (cs *Connections) Complete(ctx context.Context, work models.ConnectionWork, project models.ConnectedProject, projectAttemptID int64) error {
	return cs.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := models.LockApp(ctx, tx, work.AppID); errors.Is(err, models.ErrNotFound) {
			return models.ErrStale
		} else if err != nil {
			return err
		}
		if err := models.CompleteConnection(ctx, tx, work.AppID, work.Attempt, project); err != nil {
			return err
		}
		if err := models.SetAttemptStatus(ctx, tx, projectAttemptID, models.AttemptInUse); err != nil {
			return err
		}
		// The team the selector offers first from now on: the last one a
		// connect succeeded on, never one that just failed.
		if err := models.SelectTeam(ctx, tx, work.OwnerID, project.TeamSlug); err != nil {
			return err
		}
		detail := fmt.Sprintf("team %s, project %s, deployment %s", project.TeamSlug, project.ProjectSlug, project.DeploymentName)
		return models.RecordEvent(ctx, tx, work.OwnerID, work.AppID, models.EventConnectSucceeded, detail)
	})
}

// Failure says why an attempt failed and who says so.
type Failure struct {
	AppID string
	// Attempt is the attempt that failed; 0 is whichever is connecting.
	Attempt int
	// Message is what the owner reads.
	Message string
	// ActorID is who failed it ("" for the product itself).
	ActorID string
	// Event is the audit event's kind and EventDetail its detail
	// (Message when empty).
	Event       string
	EventDetail string
}

// Fail moves a connecting attempt to failed, records why, and queues the
// reconcile that deletes any project the attempt left unused. It is ErrStale
// when the attempt is no longer connecting.
func (cs *Connections) Fail(ctx context.Context, f Failure) error {
	if f.Event == "" {
		f.Event = models.EventConnectFailed
	}
	if f.EventDetail == "" {
		f.EventDetail = f.Message
	}
	return cs.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := models.FailConnection(ctx, tx, f.AppID, f.Attempt, f.Message); err != nil {
			return err
		}
		if err := models.RecordEvent(ctx, tx, f.ActorID, f.AppID, f.Event, f.EventDetail); err != nil {
			return err
		}
		_, err := cs.queue.InsertTx(ctx, tx.Tx, ReconcileArgs{AppID: f.AppID}, nil)
		return err
	})
}

// Disconnect drops the app's link and its stored deploy key; the Convex
// project is kept. A key that has a name at Convex is deleted there by a
// job queued here. A disconnect while connecting also queues the reconcile
// that deletes the project the attempt may have created. It returns the
// connection that was dropped, or ErrNotFound.
func (cs *Connections) Disconnect(ctx context.Context, actorID, appID string) (c models.Connection, err error) {
	err = cs.inTx(ctx, func(tx *sqlx.Tx) error {
		if c, err = models.Disconnect(ctx, tx, appID); err != nil {
			return err
		}
		detail := "team " + c.TeamSlug
		if c.ProjectSlug != "" {
			detail += ", project " + c.ProjectSlug
		}
		if err := models.RecordEvent(ctx, tx, actorID, appID, models.EventDisconnected, detail); err != nil {
			return err
		}
		if c.DeployKeyName != "" {
			owner, err := models.OwnerTokenByApp(ctx, tx, appID)
			if err != nil {
				return err
			}
			if _, err := cs.queue.InsertTx(ctx, tx.Tx, DeleteDeployKeyArgs{
				AppID: appID, OwnerID: owner.OwnerID, TeamSlug: c.TeamSlug,
				DeploymentName: c.DeploymentName, KeyName: c.DeployKeyName,
			}, nil); err != nil {
				return err
			}
		}
		if c.State != models.StateConnecting {
			return nil
		}
		_, err := cs.queue.InsertTx(ctx, tx.Tx, ReconcileArgs{AppID: appID}, nil)
		return err
	})
	return c, err
}

// RequestReconcile queues the reconcile of the app's unused projects outside
// any transition (a worker that found its attempt stale after creating one).
func (cs *Connections) RequestReconcile(ctx context.Context, appID string) error {
	_, err := cs.queue.Insert(ctx, ReconcileArgs{AppID: appID}, nil)
	return err
}

func (cs *Connections) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return models.InTx(ctx, cs.db, fn)
}
