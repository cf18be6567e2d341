package models

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
)

// TeamGrant is the Convex team token one user gave chefdeploy for one of
// their teams (CONTRACT §3.2). Token is sealed with TeamGrantPurpose; it is
// never shown.
type TeamGrant struct {
	UserID   string `db:"user_id"`
	TeamID   int64  `db:"team_id"`
	TeamSlug string `db:"team_slug"`
	// Token is the sealed team token.
	Token string `db:"token"`
	// TokenID and TokenName are what token_details said of the token.
	TokenID   int64  `db:"token_id"`
	TokenName string `db:"token_name"`
	// CreatedAt is when the team was (last) authorized.
	CreatedAt time.Time    `db:"created_at"`
	UpdatedAt time.Time    `db:"updated_at"`
	RevokedAt sql.NullTime `db:"revoked_at"`
}

// Revoked is true once Convex stopped accepting the grant's token.
func (g TeamGrant) Revoked() bool { return g.RevokedAt.Valid }

// TeamGrantPurpose binds a sealed team token to its user and team, so a
// token copied to another row does not open.
func TeamGrantPurpose(userID string, teamID int64) string {
	return "team-grant:" + userID + ":" + strconv.FormatInt(teamID, 10)
}

const teamGrantColumns = `user_id, team_id, team_slug, token, token_id, token_name, created_at, updated_at, revoked_at`

// SaveTeamGrant stores g (its Token already sealed) and records
// team_authorized, in one transaction. Authorizing a team again replaces its
// grant and clears a revocation. Another grant of the user's under the same
// slug but an older team id is dropped: a slug names one team at a time.
func SaveTeamGrant(ctx context.Context, db *sqlx.DB, g TeamGrant) (TeamGrant, error) {
	var saved TeamGrant
	err := InTx(ctx, db, func(tx *sqlx.Tx) error {
		if err := sqlx.GetContext(ctx, tx, &saved, `
			INSERT INTO team_grants (user_id, team_id, team_slug, token, token_id, token_name)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (user_id, team_id) DO UPDATE
			   SET team_slug = EXCLUDED.team_slug, token = EXCLUDED.token,
			       token_id = EXCLUDED.token_id, token_name = EXCLUDED.token_name,
			       created_at = now(), updated_at = now(), revoked_at = NULL
			RETURNING `+teamGrantColumns,
			g.UserID, g.TeamID, g.TeamSlug, g.Token, g.TokenID, g.TokenName); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			DELETE FROM team_grants WHERE user_id = $1 AND team_slug = $2 AND team_id <> $3`,
			g.UserID, g.TeamSlug, g.TeamID); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, g.UserID, "", EventTeamAuthorized, teamGrantDetail(saved))
	})
	if err != nil {
		return TeamGrant{}, err
	}
	return saved, nil
}

// TeamGrantsOf lists the user's grants, revoked ones included, by slug.
func TeamGrantsOf(ctx context.Context, db sqlx.QueryerContext, userID string) ([]TeamGrant, error) {
	var gs []TeamGrant
	err := sqlx.SelectContext(ctx, db, &gs, `
		SELECT `+teamGrantColumns+` FROM team_grants WHERE user_id = $1 ORDER BY team_slug, team_id`, userID)
	return gs, err
}

// TeamGrantByID is the user's grant for team teamID; ErrNotFound when the
// user has none.
func TeamGrantByID(ctx context.Context, db sqlx.QueryerContext, userID string, teamID int64) (TeamGrant, error) {
	var g TeamGrant
	err := sqlx.GetContext(ctx, db, &g, `
		SELECT `+teamGrantColumns+` FROM team_grants WHERE user_id = $1 AND team_id = $2`, userID, teamID)
	if errors.Is(err, sql.ErrNoRows) {
		return TeamGrant{}, ErrNotFound
	}
	return g, err
}

// TeamGrantBySlug is the user's grant for the team with slug; ErrNotFound
// when the user has none.
func TeamGrantBySlug(ctx context.Context, db sqlx.QueryerContext, userID, slug string) (TeamGrant, error) {
	var g TeamGrant
	err := sqlx.GetContext(ctx, db, &g, `
		SELECT `+teamGrantColumns+` FROM team_grants WHERE user_id = $1 AND team_slug = $2
		 ORDER BY updated_at DESC LIMIT 1`, userID, slug)
	if errors.Is(err, sql.ErrNoRows) {
		return TeamGrant{}, ErrNotFound
	}
	return g, err
}

// MarkTeamGrantRevoked records that Convex answered 401 to the grant's
// token, with team_grant_revoked, in one transaction. sealedToken is the
// sealed token the failed call used: a grant replaced since then (the user
// authorized the team again) is left alone. It reports whether it marked
// the grant; a grant already revoked, replaced or gone is not an error.
func MarkTeamGrantRevoked(ctx context.Context, db *sqlx.DB, userID string, teamID int64, sealedToken string) (bool, error) {
	marked := false
	err := InTx(ctx, db, func(tx *sqlx.Tx) error {
		var g TeamGrant
		err := sqlx.GetContext(ctx, tx, &g, `
			UPDATE team_grants SET revoked_at = now(), updated_at = now()
			 WHERE user_id = $1 AND team_id = $2 AND token = $3 AND revoked_at IS NULL
			RETURNING `+teamGrantColumns, userID, teamID, sealedToken)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		marked = true
		return RecordEvent(ctx, tx, userID, "", EventTeamGrantRevoked, teamGrantDetail(g))
	})
	return marked && err == nil, err
}

// ForgetTeamGrant deletes the user's grant for team teamID and records
// team_forgotten, in one transaction; ErrNotFound when the user has none.
func ForgetTeamGrant(ctx context.Context, db *sqlx.DB, userID string, teamID int64) (TeamGrant, error) {
	var g TeamGrant
	err := InTx(ctx, db, func(tx *sqlx.Tx) error {
		err := sqlx.GetContext(ctx, tx, &g, `
			DELETE FROM team_grants WHERE user_id = $1 AND team_id = $2 RETURNING `+teamGrantColumns, userID, teamID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return RecordEvent(ctx, tx, userID, "", EventTeamForgotten, teamGrantDetail(g))
	})
	if err != nil {
		return TeamGrant{}, err
	}
	return g, nil
}

// teamGrantDetail names a grant in the audit trail, without its token.
func teamGrantDetail(g TeamGrant) string {
	return "team " + g.TeamSlug + " (id " + strconv.FormatInt(g.TeamID, 10) + ")"
}
