package models

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/jmoiron/sqlx"
)

// LoginAttemptLifetime is how long a user has to finish signing in at Convex.
const LoginAttemptLifetime = 15 * time.Minute

// UseLoginState records that a login's state reached the callback, so that it
// works once: a state already used is ErrNotFound. Until the callback a
// login lives only in the browser's cookie; this is its first write. Used
// states older than LoginAttemptLifetime, which the cookie no longer
// accepts, are cleared on the way.
func UseLoginState(ctx context.Context, db sqlx.ExtContext, state string) error {
	if _, err := db.ExecContext(ctx, `
		DELETE FROM login_attempts WHERE created_at < now() - $1 * interval '1 second'`,
		LoginAttemptLifetime.Seconds()); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte("state:" + state))
	res, err := db.ExecContext(ctx, `
		INSERT INTO login_attempts (state_hash) VALUES ($1) ON CONFLICT (state_hash) DO NOTHING`, sum[:])
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}
