package models

import (
	"context"
	"database/sql"
	"time"

	"github.com/jmoiron/sqlx"
)

// Event kinds of the audit trail.
const (
	EventLogin            = "login"
	EventLogout           = "logout"
	EventAppCreated       = "app_created"
	EventAppRenamed       = "app_renamed"
	EventAppDeleted       = "app_deleted"
	EventConnectStarted   = "connect_started"
	EventConnectSucceeded = "connect_succeeded"
	EventConnectFailed    = "connect_failed"
	EventDeadlineFired    = "deadline_fired"
	EventDisconnected     = "disconnected"
	EventKeyRevealed      = "deploy_key_revealed"
	EventDeployStarted    = "deploy_started"
	EventDeployDone       = "deploy_done"
	EventDeployFailed     = "deploy_failed"
	EventRollback         = "rollback"
	EventEnvVarChanged    = "env_var_changed"
	EventTokenCreated     = "api_token_created"
	EventTokenRevoked     = "api_token_revoked"
	EventRoleGranted      = "role_granted"
	EventRoleRevoked      = "role_revoked"
	EventSupportViewed    = "support_viewed_app"
	EventSupportFailed    = "support_marked_failed"
	EventTeamAuthorized   = "team_authorized"
	EventTeamForgotten    = "team_forgotten"
	EventTeamGrantRevoked = "team_grant_revoked"
)

// Event is one line of the audit trail. Detail never holds a secret.
type Event struct {
	ID        int64          `db:"id"`
	ActorID   sql.NullString `db:"actor_id"`
	AppID     sql.NullString `db:"app_id"`
	Kind      string         `db:"kind"`
	Detail    string         `db:"detail"`
	CreatedAt time.Time      `db:"created_at"`
	// ActorEmail is who acted, when a user did.
	ActorEmail sql.NullString `db:"actor_email"`
}

// RecordEvent appends to the audit trail; actorID or appID may be "".
func RecordEvent(ctx context.Context, db sqlx.ExtContext, actorID, appID, kind, detail string) error {
	_, err := db.ExecContext(ctx, `
		INSERT INTO events (actor_id, app_id, kind, detail) VALUES (NULLIF($1, '')::uuid, NULLIF($2, '')::uuid, $3, $4)`,
		actorID, appID, kind, detail)
	return err
}

// AppEvents returns an app's latest events, newest first.
func AppEvents(ctx context.Context, db sqlx.ExtContext, appID string, limit int) ([]Event, error) {
	var es []Event
	err := sqlx.SelectContext(ctx, db, &es, `
		SELECT e.id, e.actor_id, e.app_id, e.kind, e.detail, e.created_at, u.email AS actor_email
		  FROM events e LEFT JOIN users u ON u.id = e.actor_id
		 WHERE e.app_id = $1 ORDER BY e.id DESC LIMIT $2`, appID, limit)
	return es, err
}

// RecentEvents returns the whole trail, newest first, a page at a time:
// events with an id below before (0 for the first page).
func RecentEvents(ctx context.Context, db sqlx.QueryerContext, before int64, limit int) ([]Event, error) {
	var es []Event
	if before <= 0 {
		before = 1<<63 - 1
	}
	err := sqlx.SelectContext(ctx, db, &es, `
		SELECT e.id, e.actor_id, e.app_id, e.kind, e.detail, e.created_at, u.email AS actor_email
		  FROM events e LEFT JOIN users u ON u.id = e.actor_id
		 WHERE e.id < $1 ORDER BY e.id DESC LIMIT $2`, before, limit)
	return es, err
}
