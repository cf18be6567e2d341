package models

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
)

// SessionLifetime is how long a login lasts without activity.
const SessionLifetime = 30 * 24 * time.Hour

// sessionTouchInterval bounds how often a request extends its session: polling
// browsers would otherwise write a row every second.
const sessionTouchInterval = 10 * time.Minute

// Session is a signed-in browser. Its ConvexToken is sealed.
type Session struct {
	IDHash      []byte    `db:"id_hash"`
	UserID      string    `db:"user_id"`
	ConvexToken string    `db:"convex_token"`
	CreatedAt   time.Time `db:"created_at"`
	LastSeenAt  time.Time `db:"last_seen_at"`
	ExpiresAt   time.Time `db:"expires_at"`
}

// SessionWithUser is a session joined with its user, what every request needs.
type SessionWithUser struct {
	Session
	User User `db:"user"`
}

// HashSessionID is what the sessions table stores for a cookie's session id.
func HashSessionID(id string) []byte {
	sum := sha256.Sum256([]byte("session:" + id))
	return sum[:]
}

// CreateSession stores a new session for id; sealedToken is already sealed.
func CreateSession(ctx context.Context, db sqlx.ExtContext, id, userID, sealedToken string) error {
	_, err := db.ExecContext(ctx, `
		INSERT INTO sessions (id_hash, user_id, convex_token, expires_at)
		VALUES ($1, $2, $3, now() + $4 * interval '1 second')`,
		HashSessionID(id), userID, sealedToken, SessionLifetime.Seconds())
	return err
}

// SetSessionRefreshToken keeps the login's refresh token, already sealed
// with RefreshTokenPurpose, with the session.
func SetSessionRefreshToken(ctx context.Context, db sqlx.ExtContext, id, sealed string) error {
	_, err := db.ExecContext(ctx, `UPDATE sessions SET refresh_token = $2 WHERE id_hash = $1`, HashSessionID(id), sealed)
	return err
}

// RefreshTokenPurpose binds a sealed refresh token to the session whose id
// hashes to idHash.
func RefreshTokenPurpose(idHash []byte) string { return "refresh-token:" + hex.EncodeToString(idHash) }

// SessionByID returns the live session for a cookie's session id, with its
// user, or ErrNotFound. It extends the session at most every few minutes.
func SessionByID(ctx context.Context, db sqlx.ExtContext, id string) (SessionWithUser, error) {
	var s SessionWithUser
	err := sqlx.GetContext(ctx, db, &s, `
		SELECT s.id_hash, s.user_id, s.convex_token, s.created_at, s.last_seen_at, s.expires_at,
		       u.id AS "user.id", COALESCE(u.convex_id, '') AS "user.convex_id", u.name AS "user.name",
		       u.email AS "user.email", u.created_at AS "user.created_at", u.updated_at AS "user.updated_at"
		  FROM sessions s JOIN users u ON u.id = s.user_id
		 WHERE s.id_hash = $1 AND s.expires_at > now()`, HashSessionID(id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrNotFound
	}
	if err != nil {
		return s, err
	}
	if time.Since(s.LastSeenAt) > sessionTouchInterval {
		_, err = db.ExecContext(ctx, `
			UPDATE sessions SET last_seen_at = now(), expires_at = now() + $2 * interval '1 second'
			 WHERE id_hash = $1`, s.IDHash, SessionLifetime.Seconds())
	}
	return s, err
}

// DeleteSession ends a session on the server; deleting a missing one is no
// error. Every replica's SessionCache is told when the delete commits (by
// the sessions table's trigger, as for any other delete).
func DeleteSession(ctx context.Context, db sqlx.ExtContext, id string) error {
	_, err := db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, HashSessionID(id))
	return err
}

// DeleteExpiredSessions removes sessions past their expiry and returns how many.
func DeleteExpiredSessions(ctx context.Context, db sqlx.ExtContext) (int64, error) {
	res, err := db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= now()`)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
