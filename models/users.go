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

// User is a person signed in through the OIDC provider: the pair (issuer,
// subject). ConvexID is the provision host's profile id of a user created
// by the version 1 login, "" for the others.
type User struct {
	ID        string    `db:"id"`
	ConvexID  string    `db:"convex_id"`
	Name      string    `db:"name"`
	Email     string    `db:"email"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

// UpsertUser records a user of the version 1 login, keyed by the provision
// host's profile id (tests and data from before the OIDC login use it).
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

// OIDCIdentity is who the login's ID token says signed in.
type OIDCIdentity struct {
	Issuer, Subject string
	Name, Email     string
	// EmailVerified is the provider's email_verified claim; only a
	// verified email may adopt a user of the version 1 login.
	EmailVerified bool
}

// UpsertOIDCUser returns the user of identity, updating their name and
// email. A person signing in for the first time is matched, when the
// provider verified their email, to the one user of the version 1 login
// (not yet linked to any OIDC identity) with that email, which is then
// linked for good; otherwise a new user is made.
func UpsertOIDCUser(ctx context.Context, tx *sqlx.Tx, id OIDCIdentity) (User, error) {
	const returning = ` RETURNING id, COALESCE(convex_id, '') AS convex_id, name, email, created_at, updated_at`
	var u User
	err := sqlx.GetContext(ctx, tx, &u, `
		UPDATE users SET name = $3, email = $4, updated_at = now()
		 WHERE oidc_issuer = $1 AND oidc_subject = $2`+returning,
		id.Issuer, id.Subject, id.Name, id.Email)
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return u, err
	}
	if id.EmailVerified && id.Email != "" {
		// Exactly one candidate, locked; two v1 accounts with one email are
		// not guessed between.
		var ids []string
		if err := sqlx.SelectContext(ctx, tx, &ids, `
			SELECT id FROM users WHERE oidc_issuer IS NULL AND lower(email) = lower($1)
			 ORDER BY created_at LIMIT 2 FOR UPDATE`, id.Email); err != nil {
			return u, err
		}
		if len(ids) == 1 {
			err := sqlx.GetContext(ctx, tx, &u, `
				UPDATE users SET oidc_issuer = $2, oidc_subject = $3, name = $4, email = $5, updated_at = now()
				 WHERE id = $1 AND oidc_issuer IS NULL`+returning,
				ids[0], id.Issuer, id.Subject, id.Name, id.Email)
			if err == nil || !errors.Is(err, sql.ErrNoRows) {
				return u, err
			}
		}
	}
	// Two first logins at once: the second updates the row the first made.
	err = sqlx.GetContext(ctx, tx, &u, `
		INSERT INTO users (oidc_issuer, oidc_subject, name, email) VALUES ($1, $2, $3, $4)
		ON CONFLICT (oidc_issuer, oidc_subject) DO UPDATE
		   SET name = EXCLUDED.name, email = EXCLUDED.email, updated_at = now()`+returning,
		id.Issuer, id.Subject, id.Name, id.Email)
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

// SelectTeam remembers the team the user picked last. The same team writes
// nothing, so it takes no lock on the user's row (a connect records its
// team inside its transaction: each write made a user's concurrent connects
// wait for one another).
func SelectTeam(ctx context.Context, db sqlx.ExtContext, userID, teamSlug string) error {
	_, err := db.ExecContext(ctx, `UPDATE users SET selected_team = $2 WHERE id = $1 AND selected_team IS DISTINCT FROM $2`, userID, teamSlug)
	return err
}

// TeamLastFailed reports whether the user's latest connection attempt on
// the team failed, so a new app does not offer that team first.
func TeamLastFailed(ctx context.Context, db sqlx.QueryerContext, userID, teamSlug string) (bool, error) {
	var states []string
	err := sqlx.SelectContext(ctx, db, &states, `
		SELECT c.state FROM connections c JOIN apps a ON a.id = c.app_id
		WHERE a.owner_id = $1 AND c.team_slug = $2
		ORDER BY c.updated_at DESC LIMIT 1`, userID, teamSlug)
	return len(states) == 1 && states[0] == StateFailed, err
}

// Login is a sign-in to record: who the ID token says it is, the browser's
// new session and the login's access token kept for the user (the builder
// mode's provision host takes exactly that token).
type Login struct {
	Identity OIDCIdentity
	// SessionID is the new session's id; SealedSessionToken is the login's
	// access token sealed for that session, SealedRefreshToken its refresh
	// token ("" when the provider gave none).
	SessionID, SealedSessionToken, SealedRefreshToken string
	// SupportGroup is SUPPORT_OIDC_GROUP ("" for none) and
	// SupportGroupMember whether the login's groups claim holds it.
	SupportGroup       string
	SupportGroupMember bool
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
		if u, err = UpsertOIDCUser(ctx, tx, l.Identity); err != nil {
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
		if l.SealedRefreshToken != "" {
			if err := SetSessionRefreshToken(ctx, tx, l.SessionID, l.SealedRefreshToken); err != nil {
				return err
			}
		}
		sealed, err := l.SealUserToken(u.ID)
		if err != nil {
			return err
		}
		if err := SetUserToken(ctx, tx, u.ID, sealed); err != nil {
			return err
		}
		if err := SetSupportGroupMember(ctx, tx, u.ID, l.SupportGroup != "" && l.SupportGroupMember, l.SupportGroup); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, u.ID, "", EventLogin, "")
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}
