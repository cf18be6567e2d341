package models

import (
	"context"
	"regexp"
	"slices"

	"github.com/jmoiron/sqlx"
)

// envNamePattern is what Convex accepts as a variable name.
var envNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,39}$`)

// maxEnvValueBytes is the largest value Convex accepts.
const maxEnvValueBytes = 8 << 10

// CheckEnvVar says what is wrong with a set or unset request, "" if nothing.
func CheckEnvVar(name, value, action string) string {
	switch {
	case action != "set" && action != "unset":
		return "Choose to set or unset the variable."
	case !envNamePattern.MatchString(name):
		return "A name starts with a letter and has up to 40 letters, digits and underscores."
	case action == "set" && value == "":
		return "Give the variable a value (or unset it)."
	case len(value) > maxEnvValueBytes:
		return "Values are limited to 8 KB."
	}
	return ""
}

// TrackEnvVar remembers that chefdeploy manages a variable of the app, after
// actorID set or unset it (action), and records env_var_changed, in one
// transaction.
func TrackEnvVar(ctx context.Context, db *sqlx.DB, actorID, appID, action, name string) error {
	return InTx(ctx, db, func(tx *sqlx.Tx) error {
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
