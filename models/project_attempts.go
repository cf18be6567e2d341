package models

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
)

// Project attempt statuses; see the project_attempts migration.
const (
	AttemptPending  = "pending"
	AttemptCreated  = "created"
	AttemptInUse    = "in_use"
	AttemptDeleted  = "deleted"
	AttemptNotFound = "not_found"
)

// ProjectAttempt is one create_project call and what became of its project.
type ProjectAttempt struct {
	ID             int64          `db:"id"`
	AppID          sql.NullString `db:"app_id"`
	UserID         string         `db:"user_id"`
	Attempt        int            `db:"attempt"`
	TeamSlug       string         `db:"team_slug"`
	ProjectName    string         `db:"project_name"`
	Status         string         `db:"status"`
	ProjectID      int64          `db:"project_id"`
	ProjectSlug    string         `db:"project_slug"`
	DeploymentName string         `db:"deployment_name"`
	DeploymentURL  string         `db:"deployment_url"`
	CreatedAt      time.Time      `db:"created_at"`
	UpdatedAt      time.Time      `db:"updated_at"`
}

const attemptColumns = `id, app_id, user_id, attempt, team_slug, project_name, status, project_id,
	project_slug, deployment_name, deployment_url, created_at, updated_at`

// RecordAttempt writes down, before the call, that create_project is about to
// be called. It returns the attempt's id.
func RecordAttempt(ctx context.Context, db sqlx.ExtContext, appID, userID string, attempt int, teamSlug, projectName string) (int64, error) {
	var id int64
	err := sqlx.GetContext(ctx, db, &id, `
		INSERT INTO project_attempts (app_id, user_id, attempt, team_slug, project_name, status)
		VALUES ($1, $2, $3, $4, $5, 'pending') RETURNING id`,
		appID, userID, attempt, teamSlug, projectName)
	return id, err
}

// MarkAttemptCreated records create_project's answer: the project exists.
// It is ErrStale when the attempt was settled meanwhile (a reconcile that
// found no project yet, or deleted it): the caller then owns the project and
// must delete it.
func MarkAttemptCreated(ctx context.Context, db sqlx.ExtContext, id, projectID int64, projectSlug, deploymentName, deploymentURL string) error {
	return guarded(ctx, db, `
		UPDATE project_attempts SET status = 'created', project_id = $2, project_slug = $3,
		       deployment_name = $4, deployment_url = $5, updated_at = now()
		 WHERE id = $1 AND status = 'pending'`, id, projectID, projectSlug, deploymentName, deploymentURL)
}

// SetAttemptStatus moves an attempt to in_use, deleted or not_found.
func SetAttemptStatus(ctx context.Context, db sqlx.ExtContext, id int64, status string) error {
	_, err := db.ExecContext(ctx, `UPDATE project_attempts SET status = $2, updated_at = now() WHERE id = $1`, id, status)
	return err
}

// OpenAttempts are the app's attempts whose project is not settled: pending
// (we may have created a project we never heard about) or created and unused.
func OpenAttempts(ctx context.Context, db sqlx.ExtContext, appID string) ([]ProjectAttempt, error) {
	var as []ProjectAttempt
	err := sqlx.SelectContext(ctx, db, &as, `
		SELECT `+attemptColumns+` FROM project_attempts
		 WHERE app_id = $1 AND status IN ('pending', 'created')
		 ORDER BY id`, appID)
	return as, err
}

// AttemptByID returns one attempt.
func AttemptByID(ctx context.Context, db sqlx.ExtContext, id int64) (ProjectAttempt, error) {
	var a ProjectAttempt
	err := sqlx.GetContext(ctx, db, &a, `SELECT `+attemptColumns+` FROM project_attempts WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}

// KnownProjectIDs are every project on a team that some attempt recorded:
// those are accounted for and never taken for an unrecorded one.
func KnownProjectIDs(ctx context.Context, db sqlx.ExtContext, teamSlug string) (map[int64]bool, error) {
	var ids []int64
	if err := sqlx.SelectContext(ctx, db, &ids, `
		SELECT project_id FROM project_attempts WHERE team_slug = $1 AND project_id <> 0`, teamSlug); err != nil {
		return nil, err
	}
	known := make(map[int64]bool, len(ids))
	for _, id := range ids {
		known[id] = true
	}
	return known, nil
}
