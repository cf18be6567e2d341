package models

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// SupportTeamRecheck is how old a support-team membership check may get
// before it is made again, as the builder does for its admins.
const SupportTeamRecheck = 10 * time.Minute

// SupportStatus is what decides whether a user has the support role.
type SupportStatus struct {
	Granted    bool         `db:"support_granted"`
	TeamMember bool         `db:"support_team_member"`
	CheckedAt  sql.NullTime `db:"support_checked_at"`
	// GroupMember: the latest login's groups claim held SUPPORT_OIDC_GROUP.
	GroupMember bool `db:"support_group_member"`
}

// SupportStatusOf reads a user's support grant and team membership.
func SupportStatusOf(ctx context.Context, db sqlx.QueryerContext, userID string) (SupportStatus, error) {
	var s SupportStatus
	err := sqlx.GetContext(ctx, db, &s, `SELECT support_granted, support_team_member, support_checked_at, support_group_member FROM users WHERE id = $1`, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrNotFound
	}
	return s, err
}

// SetSupportTeamMember records the result of a check of the user's
// membership of the support team; when it changes, role_granted or
// role_revoked is recorded in the same transaction.
func SetSupportTeamMember(ctx context.Context, db *sqlx.DB, userID string, member bool, team string) error {
	return InTx(ctx, db, func(tx *sqlx.Tx) error {
		var before bool
		err := sqlx.GetContext(ctx, tx, &before, `SELECT support_team_member FROM users WHERE id = $1 FOR UPDATE`, userID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET support_team_member = $2, support_checked_at = now() WHERE id = $1`, userID, member); err != nil {
			return err
		}
		switch {
		case member && !before:
			return RecordEvent(ctx, tx, userID, "", EventRoleGranted, "support, as a member of team "+team)
		case !member && before:
			return RecordEvent(ctx, tx, userID, "", EventRoleRevoked, "support, no longer a member of team "+team)
		}
		return nil
	})
}

// SetSupportGroupMember records whether the login's groups claim holds the
// support group; when that changes, role_granted or role_revoked is recorded
// in the same transaction.
func SetSupportGroupMember(ctx context.Context, tx *sqlx.Tx, userID string, member bool, group string) error {
	var before bool
	if err := sqlx.GetContext(ctx, tx, &before, `SELECT support_group_member FROM users WHERE id = $1 FOR UPDATE`, userID); err != nil {
		return err
	}
	if before == member {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET support_group_member = $2 WHERE id = $1`, userID, member); err != nil {
		return err
	}
	if member {
		return RecordEvent(ctx, tx, userID, "", EventRoleGranted, "support, as a member of group "+group)
	}
	return RecordEvent(ctx, tx, userID, "", EventRoleRevoked, "support, no longer a member of group "+group)
}

// GrantSupport sets or clears the CLI grant for every user with email, records
// role_granted or role_revoked when it changed any, in one transaction, and
// returns how many users it changed.
func GrantSupport(ctx context.Context, db *sqlx.DB, email string, granted bool) (int64, error) {
	var n int64
	err := InTx(ctx, db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET support_granted = $2 WHERE lower(email) = lower($1)`, email, granted)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		kind := EventRoleGranted
		if !granted {
			kind = EventRoleRevoked
		}
		return RecordEvent(ctx, tx, "", "", kind, "support for "+email+", by the CLI")
	})
	return n, err
}

// SupportUser is a user with the support role, and where it comes from.
type SupportUser struct {
	Email      string       `db:"email"`
	Name       string       `db:"name"`
	Granted    bool         `db:"support_granted"`
	TeamMember bool         `db:"support_team_member"`
	CheckedAt  sql.NullTime `db:"support_checked_at"`
	// GroupMember: the latest sign-in's groups claim held SUPPORT_OIDC_GROUP.
	GroupMember bool `db:"support_group_member"`
}

// SupportUsers lists users granted support, seen in the support team or in
// the support group at their latest sign-in.
func SupportUsers(ctx context.Context, db sqlx.QueryerContext) ([]SupportUser, error) {
	var us []SupportUser
	err := sqlx.SelectContext(ctx, db, &us, `
		SELECT email, name, support_granted, support_team_member, support_checked_at, support_group_member
		  FROM users WHERE support_granted OR support_team_member OR support_group_member ORDER BY email`)
	return us, err
}

// SupportRow is one app as the support console shows it: never a credential.
type SupportRow struct {
	AppID          string         `db:"app_id"`
	AppName        string         `db:"app_name"`
	AppSlug        string         `db:"app_slug"`
	OwnerEmail     string         `db:"owner_email"`
	CreatedAt      time.Time      `db:"created_at"`
	State          sql.NullString `db:"state"`
	Step           sql.NullString `db:"step"`
	TeamSlug       sql.NullString `db:"team_slug"`
	ProjectSlug    sql.NullString `db:"project_slug"`
	DeploymentName sql.NullString `db:"deployment_name"`
	Error          sql.NullString `db:"error"`
	Attempt        sql.NullInt64  `db:"attempt"`
	StateChangedAt sql.NullTime   `db:"state_changed_at"`
	DeadlineAt     sql.NullTime   `db:"deadline_at"`
	LastDeployAt   sql.NullTime   `db:"last_deploy_at"`
	LastDeploy     sql.NullString `db:"last_deploy_status"`
}

// supportSelect never names a secret column (deploy_key, convex_token).
const supportSelect = `
	SELECT a.id AS app_id, a.name AS app_name, a.slug AS app_slug, u.email AS owner_email, a.created_at,
	       c.state, c.step, c.team_slug, c.project_slug, c.deployment_name, c.error, c.attempt,
	       c.state_changed_at, c.deadline_at, d.created_at AS last_deploy_at, d.status AS last_deploy_status
	  FROM apps a
	  JOIN users u ON u.id = a.owner_id
	  LEFT JOIN connections c ON c.app_id = a.id
	  LEFT JOIN LATERAL (
	      SELECT created_at, status FROM deploys WHERE app_id = a.id ORDER BY created_at DESC LIMIT 1
	  ) d ON true`

// SupportFilter narrows the support listing.
type SupportFilter struct {
	// State is "", "none", "connecting", "connected" or "failed".
	State string
	Team  string
	// Query matches owner email, app name or project slug, as a substring.
	Query string
	// After is the cursor of the last row of the previous page.
	After string
}

// SupportStates are the states the console filters by.
var SupportStates = []string{StateNone, StateConnecting, StateConnected, StateFailed}

// ListSupport returns a page of apps, newest first, and the cursor of the
// next page ("" on the last). Keyset paging on (created_at, id) keeps every
// page an index walk however deep it is.
func ListSupport(ctx context.Context, db sqlx.QueryerContext, f SupportFilter, limit int) ([]SupportRow, string, error) {
	query, args, err := supportQuery(f, limit)
	if err != nil {
		return nil, "", err
	}
	var rows []SupportRow
	if err := sqlx.SelectContext(ctx, db, &rows, query, args...); err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[len(rows)-1]
		next = encodeCursor(last.CreatedAt, last.AppID)
	}
	return rows, next, nil
}

// ExplainSupport returns PostgreSQL's plan for a support listing, so tests
// can check that it is served by indexes.
func ExplainSupport(ctx context.Context, db sqlx.QueryerContext, f SupportFilter, limit int) (string, error) {
	query, args, err := supportQuery(f, limit)
	if err != nil {
		return "", err
	}
	var lines []string
	if err := sqlx.SelectContext(ctx, db, &lines, "EXPLAIN "+query, args...); err != nil {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}

func supportQuery(f SupportFilter, limit int) (string, []any, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	// Every filter is on apps' own columns (copies kept by triggers), so a
	// page is a walk of one of apps' indexes; the joins touch only its rows.
	switch f.State {
	case "":
	case StateNone, StateConnecting, StateConnected, StateFailed:
		where = append(where, "a.conn_state = "+arg(f.State))
	default:
		return "", nil, Errorf(EINVALID, "Unknown state %q.", f.State)
	}
	if f.Team != "" {
		where = append(where, "a.conn_team = "+arg(f.Team))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		where = append(where, "a.search LIKE "+arg("%"+escapeLike(strings.ToLower(q))+"%"))
	}
	if f.After != "" {
		at, id, err := decodeCursor(f.After)
		if err != nil {
			return "", nil, Errorf(EINVALID, "That page link is not valid.")
		}
		where = append(where, "(a.created_at, a.id) < ("+arg(at)+", "+arg(id)+")")
	}
	query := supportSelect
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	return query + " ORDER BY a.created_at DESC, a.id DESC LIMIT " + arg(limit+1), args, nil
}

// StuckConnections are attempts still connecting well past their deadline,
// which should never happen: the console shows them first.
func StuckConnections(ctx context.Context, db sqlx.QueryerContext, limit int) ([]SupportRow, error) {
	var rows []SupportRow
	err := sqlx.SelectContext(ctx, db, &rows, supportSelect+`
		 WHERE c.state = 'connecting' AND c.deadline_at < now()
		 ORDER BY c.deadline_at LIMIT $1`, limit)
	return rows, err
}

// SupportApp returns one app for the support detail view.
func SupportApp(ctx context.Context, db sqlx.QueryerContext, appID string) (SupportRow, error) {
	var row SupportRow
	if _, err := uuid.Parse(appID); err != nil {
		return row, ErrNotFound
	}
	err := sqlx.GetContext(ctx, db, &row, supportSelect+` WHERE a.id = $1`, appID)
	if errors.Is(err, sql.ErrNoRows) {
		return row, ErrNotFound
	}
	return row, err
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + "|" + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", err
	}
	micros, id, ok := strings.Cut(string(raw), "|")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil {
		return time.Time{}, "", fmt.Errorf("bad cursor")
	}
	if _, err := uuid.Parse(id); err != nil {
		return time.Time{}, "", err
	}
	return time.UnixMicro(n), id, nil
}
