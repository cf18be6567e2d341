package models

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jmoiron/sqlx"
)

// AppStatus is what the status fragment shows of an app: the app and its
// connection, without any credential.
type AppStatus struct {
	AppID   string
	OwnerID string
	Slug    string
	Name    string
	// Connection is nil for the state "none". Its DeployKey is always empty;
	// HasDeployKey says whether one is stored.
	Connection   *Connection
	HasDeployKey bool
}

// LoadAppStatus reads an app and its connection in one indexed query.
func LoadAppStatus(ctx context.Context, db sqlx.QueryerContext, appID string) (AppStatus, error) {
	var row struct {
		ID                string         `db:"id"`
		OwnerID           string         `db:"owner_id"`
		Slug              string         `db:"slug"`
		Name              string         `db:"name"`
		State             sql.NullString `db:"state"`
		Attempt           sql.NullInt64  `db:"attempt"`
		Step              sql.NullString `db:"step"`
		TeamSlug          sql.NullString `db:"team_slug"`
		ProjectID         sql.NullInt64  `db:"project_id"`
		ProjectSlug       sql.NullString `db:"project_slug"`
		DeploymentName    sql.NullString `db:"deployment_name"`
		DeploymentURL     sql.NullString `db:"deployment_url"`
		ProjectsRemaining sql.NullInt64  `db:"projects_remaining"`
		Warning           sql.NullString `db:"warning"`
		Error             sql.NullString `db:"error"`
		HasDeployKey      sql.NullBool   `db:"has_deploy_key"`
		StartedAt         sql.NullTime   `db:"started_at"`
		DeadlineAt        sql.NullTime   `db:"deadline_at"`
		UpdatedAt         sql.NullTime   `db:"updated_at"`
	}
	err := sqlx.GetContext(ctx, db, &row, `
		SELECT a.id, a.owner_id, a.slug, a.name,
		       c.state, c.attempt, c.step, c.team_slug, c.project_id, c.project_slug, c.deployment_name,
		       c.deployment_url, c.projects_remaining, c.warning, c.error, c.deploy_key <> '' AS has_deploy_key,
		       c.started_at, c.deadline_at, c.updated_at
		  FROM apps a LEFT JOIN connections c ON c.app_id = a.id
		 WHERE a.id = $1`, appID)
	if errors.Is(err, sql.ErrNoRows) {
		return AppStatus{}, ErrNotFound
	}
	if err != nil {
		return AppStatus{}, err
	}
	st := AppStatus{AppID: row.ID, OwnerID: row.OwnerID, Slug: row.Slug, Name: row.Name}
	if row.State.Valid {
		st.HasDeployKey = row.HasDeployKey.Bool
		st.Connection = &Connection{
			AppID:             row.ID,
			State:             row.State.String,
			Attempt:           int(row.Attempt.Int64),
			Step:              row.Step.String,
			TeamSlug:          row.TeamSlug.String,
			ProjectID:         row.ProjectID.Int64,
			ProjectSlug:       row.ProjectSlug.String,
			DeploymentName:    row.DeploymentName.String,
			DeploymentURL:     row.DeploymentURL.String,
			ProjectsRemaining: int(row.ProjectsRemaining.Int64),
			Warning:           row.Warning.String,
			Error:             row.Error.String,
			StartedAt:         row.StartedAt.Time,
			DeadlineAt:        row.DeadlineAt.Time,
			UpdatedAt:         row.UpdatedAt.Time,
		}
	}
	return st, nil
}
