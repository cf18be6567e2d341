package models

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
)

// LoginAttemptLifetime is how long a user has to finish signing in at Convex.
const LoginAttemptLifetime = 15 * time.Minute

// LoginAttempt is an OAuth login in flight; CodeVerifier is sealed.
type LoginAttempt struct {
	StateHash    []byte    `db:"state_hash"`
	BrowserHash  []byte    `db:"browser_hash"`
	CodeVerifier string    `db:"code_verifier"`
	CreatedAt    time.Time `db:"created_at"`
	// Fresh is false once the attempt is older than LoginAttemptLifetime,
	// judged by the database's clock.
	Fresh bool `db:"fresh"`
}

func hashLoginValue(kind, v string) []byte {
	sum := sha256.Sum256([]byte(kind + ":" + v))
	return sum[:]
}

// CreateLoginAttempt records state and the sealed PKCE verifier for the browser
// whose login cookie holds browserID. Stale attempts are cleared on the way.
func CreateLoginAttempt(ctx context.Context, db sqlx.ExtContext, state, browserID, sealedVerifier string) error {
	if _, err := db.ExecContext(ctx, `
		DELETE FROM login_attempts WHERE created_at < now() - $1 * interval '1 second'`,
		LoginAttemptLifetime.Seconds()); err != nil {
		return err
	}
	_, err := db.ExecContext(ctx, `
		INSERT INTO login_attempts (state_hash, browser_hash, code_verifier) VALUES ($1, $2, $3)`,
		hashLoginValue("state", state), hashLoginValue("browser", browserID), sealedVerifier)
	return err
}

// ConsumeLoginAttempt takes the attempt for state out of the table, so a state
// works once, and checks that the same browser started it. Any mismatch, replay
// or expiry is ErrNotFound.
func ConsumeLoginAttempt(ctx context.Context, db sqlx.ExtContext, state, browserID string) (LoginAttempt, error) {
	var a LoginAttempt
	err := sqlx.GetContext(ctx, db, &a, `
		DELETE FROM login_attempts WHERE state_hash = $1
		RETURNING state_hash, browser_hash, code_verifier, created_at,
		          created_at > now() - $2 * interval '1 second' AS fresh`,
		hashLoginValue("state", state), LoginAttemptLifetime.Seconds())
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	if err != nil {
		return a, err
	}
	if subtle.ConstantTimeCompare(a.BrowserHash, hashLoginValue("browser", browserID)) != 1 || !a.Fresh {
		return a, ErrNotFound
	}
	return a, nil
}
