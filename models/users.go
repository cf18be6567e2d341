package models

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
)

// User is a person signed in with Convex.
type User struct {
	ID        string    `db:"id"`
	ConvexID  string    `db:"convex_id"`
	Name      string    `db:"name"`
	Email     string    `db:"email"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

// UpsertUser records the profile the provision host returned at login.
func UpsertUser(ctx context.Context, db sqlx.ExtContext, convexID, name, email string) (User, error) {
	var u User
	err := sqlx.GetContext(ctx, db, &u, `
		INSERT INTO users (convex_id, name, email)
		VALUES ($1, $2, $3)
		ON CONFLICT (convex_id) DO UPDATE
		   SET name = EXCLUDED.name, email = EXCLUDED.email, updated_at = now()
		RETURNING id, convex_id, name, email, created_at, updated_at`,
		convexID, name, email)
	return u, err
}

// SetUserToken keeps the user's latest Convex token, sealed, for work done on
// their behalf without a browser session.
func SetUserToken(ctx context.Context, db sqlx.ExtContext, userID, sealed string) error {
	_, err := db.ExecContext(ctx, `UPDATE users SET convex_token = $2, updated_at = now() WHERE id = $1`, userID, sealed)
	return err
}

// UserTokenPurpose binds a sealed user token to its user.
func UserTokenPurpose(userID string) string { return "convex-token:user:" + userID }

// SessionTokenPurpose binds a sealed Convex token to the session whose id
// hashes to idHash.
func SessionTokenPurpose(idHash []byte) string { return "convex-token:" + hex.EncodeToString(idHash) }

// DeployKeyPurpose binds a sealed deploy key to its app.
func DeployKeyPurpose(appID string) string { return "deploy-key:" + appID }

// Team is a Convex team as the team selector shows it.
type Team struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// UserTeams is the user's teams as last fetched, and the team they last picked.
type UserTeams struct {
	Teams     []Team
	FetchedAt time.Time
	Selected  string
}

// TeamsOf returns the user's cached teams (FetchedAt is zero if never fetched).
func TeamsOf(ctx context.Context, db sqlx.ExtContext, userID string) (UserTeams, error) {
	var row struct {
		Teams     []byte       `db:"teams"`
		FetchedAt sql.NullTime `db:"teams_fetched_at"`
		Selected  string       `db:"selected_team"`
	}
	err := sqlx.GetContext(ctx, db, &row, `
		SELECT teams, teams_fetched_at, COALESCE(selected_team, '') AS selected_team FROM users WHERE id = $1`, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return UserTeams{}, ErrNotFound
	}
	if err != nil {
		return UserTeams{}, err
	}
	ut := UserTeams{FetchedAt: row.FetchedAt.Time, Selected: row.Selected}
	if len(row.Teams) > 0 {
		if err := json.Unmarshal(row.Teams, &ut.Teams); err != nil {
			return UserTeams{}, err
		}
	}
	return ut, nil
}

// SetTeams caches the teams the provision host listed for the user.
func SetTeams(ctx context.Context, db sqlx.ExtContext, userID string, teams []Team) error {
	raw, err := json.Marshal(teams)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `UPDATE users SET teams = $2, teams_fetched_at = now() WHERE id = $1`, userID, raw)
	return err
}

// SelectTeam remembers the team the user picked last.
func SelectTeam(ctx context.Context, db sqlx.ExtContext, userID, teamSlug string) error {
	_, err := db.ExecContext(ctx, `UPDATE users SET selected_team = $2 WHERE id = $1`, userID, teamSlug)
	return err
}

// Login is a sign-in to record: the profile the provision host returned, the
// browser's new session and the Convex token kept for the user.
type Login struct {
	ConvexID, Name, Email string
	// SessionID is the new session's id; SealedSessionToken is the Convex
	// token sealed for that session.
	SessionID, SealedSessionToken string
	// PreviousSessionID, when set, is the browser's session the login ends.
	PreviousSessionID string
	// SealUserToken seals the Convex token for work done on the user's
	// behalf, once the user's id is known.
	SealUserToken func(userID string) (string, error)
}

// RecordLogin stores the user, ends the previous session, opens the new one,
// keeps the user's token and records login, in one transaction: a sign-in
// that is not in the audit trail opens no session.
func RecordLogin(ctx context.Context, db *sqlx.DB, l Login) (User, error) {
	var u User
	err := InTx(ctx, db, func(tx *sqlx.Tx) error {
		var err error
		if u, err = UpsertUser(ctx, tx, l.ConvexID, l.Name, l.Email); err != nil {
			return err
		}
		if l.PreviousSessionID != "" {
			if err := DeleteSession(ctx, tx, l.PreviousSessionID); err != nil {
				return err
			}
		}
		if err := CreateSession(ctx, tx, l.SessionID, u.ID, l.SealedSessionToken); err != nil {
			return err
		}
		sealed, err := l.SealUserToken(u.ID)
		if err != nil {
			return err
		}
		if err := SetUserToken(ctx, tx, u.ID, sealed); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, u.ID, "", EventLogin, "")
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}
