package models

import (
	"context"
	"slices"

	"github.com/jmoiron/sqlx"
)

// TrackEnvVar remembers that chefdeploy manages a variable of the app, after
// actorID set or unset it (action), and records env_var_changed, in one
// transaction; at most limit variables per app. The app's row is locked
// while counting, so concurrent sets on any replica cannot pass the limit
// together.
func TrackEnvVar(ctx context.Context, db *sqlx.DB, actorID, appID, action, name string, limit int) error {
	return InTx(ctx, db, func(tx *sqlx.Tx) error {
		var locked string
		if err := tx.GetContext(ctx, &locked, `SELECT id FROM apps WHERE id = $1 FOR UPDATE`, appID); err != nil {
			return err
		}
		var others int
		if err := tx.GetContext(ctx, &others, `SELECT count(*) FROM app_env_vars WHERE app_id = $1 AND name <> $2`, appID, name); err != nil {
			return err
		}
		if others >= limit {
			return Errorf(EINVALID, "chefdeploy manages at most %d variables per app.", limit)
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO app_env_vars (app_id, name) VALUES ($1, $2)
			ON CONFLICT (app_id, name) DO UPDATE SET updated_at = now()`, appID, name); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, actorID, appID, EventEnvVarChanged, action+" "+name)
	})
}

// ManagedEnvVars are the variable names chefdeploy manages for an app: always
// the ones given, then those set through chefdeploy, sorted.
func ManagedEnvVars(ctx context.Context, db sqlx.QueryerContext, appID string, always []string) ([]string, error) {
	var names []string
	if err := sqlx.SelectContext(ctx, db, &names, `SELECT name FROM app_env_vars WHERE app_id = $1 ORDER BY name`, appID); err != nil {
		return nil, err
	}
	out := slices.Clone(always)
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}
