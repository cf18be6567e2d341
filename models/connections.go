package models

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
)

// Connection states; an app without a connection row is StateNone.
const (
	StateNone       = "none"
	StateConnecting = "connecting"
	StateConnected  = "connected"
	StateFailed     = "failed"
)

// Provisioning steps, in the order the worker takes them.
const (
	StepQueued      = "queued"
	StepCreating    = "creating_project"
	StepAuthorizing = "authorizing"
	StepEnvironment = "configuring_environment"
)

// DeadlineMessage is what a connection that ran out of time says (CONTRACT §2).
const DeadlineMessage = "Failed to connect to project"

// ErrStale says the connection moved on (a newer attempt, a deadline, a
// disconnect) since the work at hand started; that work must not touch it.
var ErrStale = errors.New("connection changed since this work started")

// Connection is an app's link to a Convex project. DeployKey is sealed.
type Connection struct {
	AppID             string `db:"app_id"`
	State             string `db:"state"`
	Attempt           int    `db:"attempt"`
	Step              string `db:"step"`
	TeamSlug          string `db:"team_slug"`
	ProjectID         int64  `db:"project_id"`
	ProjectSlug       string `db:"project_slug"`
	DeploymentName    string `db:"deployment_name"`
	DeploymentURL     string `db:"deployment_url"`
	ProjectsRemaining int    `db:"projects_remaining"`
	Warning           string `db:"warning"`
	Error             string `db:"error"`
	DeployKey         string `db:"deploy_key"`
	// DeployKeyName is the name the deploy key can be deleted by at Convex;
	// "" when it has none (builder mode).
	DeployKeyName string    `db:"deploy_key_name"`
	StartedAt     time.Time `db:"started_at"`
	DeadlineAt    time.Time `db:"deadline_at"`
	UpdatedAt     time.Time `db:"updated_at"`
}

const connectionColumns = `app_id, state, attempt, step, team_slug, project_id, project_slug,
	deployment_name, deployment_url, projects_remaining, warning, error, deploy_key,
	deploy_key_name, started_at, deadline_at, updated_at`

// EffectiveState is the state a person should see at now: a connection still
// "connecting" past its deadline has failed, whether or not a worker has
// written that down yet.
func (c *Connection) EffectiveState(now time.Time) string {
	if c.State == StateConnecting && now.After(c.DeadlineAt) {
		return StateFailed
	}
	return c.State
}

// EffectiveError is the error to show at now.
func (c *Connection) EffectiveError(now time.Time) string {
	if c.State == StateConnecting && now.After(c.DeadlineAt) {
		return DeadlineMessage
	}
	return c.Error
}

// ConnectionByApp returns the app's connection, or ErrNotFound for "none".
func ConnectionByApp(ctx context.Context, db sqlx.ExtContext, appID string) (Connection, error) {
	var c Connection
	err := sqlx.GetContext(ctx, db, &c, `SELECT `+connectionColumns+` FROM connections WHERE app_id = $1`, appID)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// BeginConnect moves the app's connection to connecting with a new attempt,
// unless an attempt is already in flight: then it returns that one and
// started=false, so a double click or a second tab starts nothing new. The
// app row is locked, so concurrent Connects are serialised. When the new
// attempt replaces one that ran out of time before anything recorded its end,
// expired is that old attempt. Only the connection's owner (jobs.Connections)
// calls it, in its transaction.
func BeginConnect(ctx context.Context, tx *sqlx.Tx, appID, teamSlug string, deadline time.Duration) (c Connection, started bool, expired *Connection, err error) {
	if err := LockApp(ctx, tx, appID); err != nil {
		return c, false, nil, err
	}
	err = tx.GetContext(ctx, &c, `SELECT `+connectionColumns+` FROM connections WHERE app_id = $1`, appID)
	switch {
	case err == nil && c.State == StateConnecting && time.Now().Before(c.DeadlineAt):
		return c, false, nil, nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return c, false, nil, err
	case err == nil && c.State == StateConnecting:
		old := c
		expired = &old
	}
	err = tx.GetContext(ctx, &c, `
		INSERT INTO connections (app_id, state, attempt, step, team_slug, deadline_at)
		VALUES ($1, 'connecting', 1, 'queued', $2, now() + $3 * interval '1 second')
		ON CONFLICT (app_id) DO UPDATE SET
		    state = 'connecting', attempt = connections.attempt + 1, step = 'queued',
		    team_slug = EXCLUDED.team_slug, project_id = 0, project_slug = '',
		    deployment_name = '', deployment_url = '', projects_remaining = -1,
		    warning = '', error = '', deploy_key = '', deploy_key_name = '',
		    started_at = now(), deadline_at = EXCLUDED.deadline_at, updated_at = now(),
		    state_changed_at = now()
		RETURNING `+connectionColumns, appID, teamSlug, deadline.Seconds())
	if err != nil {
		return c, false, nil, err
	}
	return c, true, expired, nil
}

// LockApp locks the app's row for the rest of tx, or is ErrNotFound. Every
// transaction that changes a connection's state takes this lock first: the
// change updates the app's row too (the support console's copy, by trigger),
// and one order of locks means no deadlock between two transitions.
func LockApp(ctx context.Context, tx *sqlx.Tx, appID string) error {
	var locked string
	err := tx.GetContext(ctx, &locked, `SELECT id FROM apps WHERE id = $1 FOR UPDATE`, appID)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// guarded runs an update that applies only while the attempt is still the
// current, connecting one; otherwise it is ErrStale.
func guarded(ctx context.Context, db sqlx.ExtContext, query string, args ...any) error {
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrStale
	}
	return nil
}

// SetStep records the provisioning step in progress.
func SetStep(ctx context.Context, db sqlx.ExtContext, appID string, attempt int, step string) error {
	return guarded(ctx, db, `
		UPDATE connections SET step = $3, updated_at = now()
		 WHERE app_id = $1 AND attempt = $2 AND state = 'connecting' AND deadline_at > now()`,
		appID, attempt, step)
}

// ConnectedProject is what a finished provisioning stores.
type ConnectedProject struct {
	ProjectID         int64
	ProjectSlug       string
	TeamSlug          string
	DeploymentName    string
	DeploymentURL     string
	ProjectsRemaining int
	Warning           string
	SealedDeployKey   string
	DeployKeyName     string
}

// CompleteConnection moves the attempt to connected, if it is still the
// current one and its deadline has not passed.
func CompleteConnection(ctx context.Context, db sqlx.ExtContext, appID string, attempt int, p ConnectedProject) error {
	return guarded(ctx, db, `
		UPDATE connections SET state = 'connected', step = '', project_id = $3, project_slug = $4,
		       team_slug = $5, deployment_name = $6, deployment_url = $7, projects_remaining = $8,
		       warning = $9, deploy_key = $10, deploy_key_name = $11, error = '', updated_at = now(),
		       state_changed_at = now()
		 WHERE app_id = $1 AND attempt = $2 AND state = 'connecting' AND deadline_at > now()`,
		appID, attempt, p.ProjectID, p.ProjectSlug, p.TeamSlug, p.DeploymentName, p.DeploymentURL,
		p.ProjectsRemaining, p.Warning, p.SealedDeployKey, p.DeployKeyName)
}

// FailConnection moves the attempt to failed with a message a person can act
// on, if it is still connecting; attempt 0 means whichever attempt is (the
// support console's case). Unlike the other transitions it applies past the
// deadline too: the deadline is exactly when it is needed. It returns the
// connection as it was before, or ErrStale.
func FailConnection(ctx context.Context, tx *sqlx.Tx, appID string, attempt int, message string) (Connection, error) {
	var c Connection
	if err := LockApp(ctx, tx, appID); errors.Is(err, ErrNotFound) {
		return c, ErrStale
	} else if err != nil {
		return c, err
	}
	err := tx.GetContext(ctx, &c, `
		SELECT `+connectionColumns+` FROM connections
		 WHERE app_id = $1 AND state = 'connecting' AND ($2 = 0 OR attempt = $2)
		   FOR UPDATE`, appID, attempt)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrStale
	}
	if err != nil {
		return c, err
	}
	_, err = tx.ExecContext(ctx, `
		UPDATE connections SET state = 'failed', step = '', error = $2, deploy_key = '', deploy_key_name = '', updated_at = now(),
		       state_changed_at = now()
		 WHERE app_id = $1`, appID, message)
	return c, err
}

// Disconnect drops the app's link and its stored credentials; the Convex
// project itself is kept. It returns the connection that was dropped.
func Disconnect(ctx context.Context, tx *sqlx.Tx, appID string) (Connection, error) {
	var c Connection
	if err := LockApp(ctx, tx, appID); err != nil {
		return c, err
	}
	err := tx.GetContext(ctx, &c, `DELETE FROM connections WHERE app_id = $1 RETURNING `+connectionColumns, appID)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, err
	}
	// The site goes down with the link (platform mode), and its bundles
	// may be pruned again.
	return c, TakeSiteDown(ctx, tx, appID)
}

// ConnectionWork is what the provisioning worker reads to start: the
// connection, the app's name and the owner's sealed Convex token.
type ConnectionWork struct {
	Connection
	AppName    string `db:"app_name"`
	OwnerID    string `db:"owner_id"`
	OwnerToken string `db:"owner_token"`
}

// ConnectionForWork loads what the worker needs, or ErrNotFound when the app
// or its connection is gone.
func ConnectionForWork(ctx context.Context, db sqlx.ExtContext, appID string) (ConnectionWork, error) {
	var w ConnectionWork
	err := sqlx.GetContext(ctx, db, &w, `
		SELECT c.app_id, c.state, c.attempt, c.step, c.team_slug, c.project_id, c.project_slug,
		       c.deployment_name, c.deployment_url, c.projects_remaining, c.warning, c.error, c.deploy_key,
		       c.deploy_key_name, c.started_at, c.deadline_at, c.updated_at,
		       a.name AS app_name, a.owner_id, COALESCE(u.convex_token, '') AS owner_token
		  FROM connections c JOIN apps a ON a.id = c.app_id JOIN users u ON u.id = a.owner_id
		 WHERE c.app_id = $1`, appID)
	if errors.Is(err, sql.ErrNoRows) {
		return w, ErrNotFound
	}
	return w, err
}

// ExpiredConnections lists connecting attempts past their deadline, oldest
// first, for the deadline sweeper.
func ExpiredConnections(ctx context.Context, db sqlx.ExtContext, limit int) ([]Connection, error) {
	var cs []Connection
	err := sqlx.SelectContext(ctx, db, &cs, `
		SELECT `+connectionColumns+` FROM connections
		 WHERE state = 'connecting' AND deadline_at <= now()
		 ORDER BY deadline_at LIMIT $1`, limit)
	return cs, err
}

// AppOwnerToken is an app's owner and their sealed Convex token, for work
// done on their behalf when the app may have no connection any more.
type AppOwnerToken struct {
	OwnerID    string `db:"owner_id"`
	OwnerToken string `db:"owner_token"`
}

// OwnerTokenByApp returns the app's owner token; for an app that was deleted,
// the token of the user whose attempts it left. ErrNotFound when neither is
// known.
func OwnerTokenByApp(ctx context.Context, db sqlx.QueryerContext, appID string) (AppOwnerToken, error) {
	var o AppOwnerToken
	err := sqlx.GetContext(ctx, db, &o, `
		SELECT a.owner_id, COALESCE(u.convex_token, '') AS owner_token
		  FROM apps a JOIN users u ON u.id = a.owner_id WHERE a.id = $1
		UNION ALL
		(SELECT p.user_id, COALESCE(u.convex_token, '')
		   FROM project_attempts p JOIN users u ON u.id = p.user_id
		  WHERE p.app_id = $1 AND NOT EXISTS (SELECT 1 FROM apps WHERE id = $1)
		  ORDER BY p.id DESC LIMIT 1)`, appID)
	if errors.Is(err, sql.ErrNoRows) {
		return o, ErrNotFound
	}
	return o, err
}

// UserToken returns the user's sealed Convex token ("" when there is none),
// or ErrNotFound when the user is gone.
func UserToken(ctx context.Context, db sqlx.QueryerContext, userID string) (string, error) {
	var sealed string
	err := sqlx.GetContext(ctx, db, &sealed, `SELECT COALESCE(convex_token, '') FROM users WHERE id = $1`, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return sealed, err
}
