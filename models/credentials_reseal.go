package models

import (
	"context"

	"github.com/jmoiron/sqlx"

	"chefdeploy/credentials"
)

// ResealCounts says how many sealed values ResealCredentials re-sealed.
type ResealCounts struct {
	Users, Sessions, Connections, TeamGrants, AuthKeys int
}

// ResealCredentials re-seals with the key ring's active key every stored
// secret sealed with an older key: the users' and sessions' Convex tokens,
// the sessions' refresh tokens, the apps' deploy keys, the users' team
// grants and the stock of Convex Auth keys not yet handed out. Once it has run, the old key can leave CREDENTIALS_KEY. (Logins in
// flight keep their PKCE verifier in the browser's cookie, under
// SESSION_SECRET, not under this key.) A value that changed while it ran is
// left as the newer write made it.
func ResealCredentials(ctx context.Context, db *sqlx.DB, keys *credentials.Keyring) (ResealCounts, error) {
	var counts ResealCounts
	var err error
	if counts.Users, err = reseal(ctx, db, keys,
		`SELECT id::text AS key, convex_token AS sealed FROM users WHERE convex_token <> ''`,
		`UPDATE users SET convex_token = $3 WHERE id::text = $1 AND convex_token = $2`,
		func(key string) string { return UserTokenPurpose(key) }); err != nil {
		return counts, err
	}
	if counts.Sessions, err = reseal(ctx, db, keys,
		`SELECT encode(id_hash, 'hex') AS key, convex_token AS sealed FROM sessions`,
		`UPDATE sessions SET convex_token = $3 WHERE encode(id_hash, 'hex') = $1 AND convex_token = $2`,
		func(key string) string { return "convex-token:" + key }); err != nil {
		return counts, err
	}
	refreshed, err := reseal(ctx, db, keys,
		`SELECT encode(id_hash, 'hex') AS key, refresh_token AS sealed FROM sessions WHERE refresh_token <> ''`,
		`UPDATE sessions SET refresh_token = $3 WHERE encode(id_hash, 'hex') = $1 AND refresh_token = $2`,
		func(key string) string { return "refresh-token:" + key })
	counts.Sessions += refreshed
	if err != nil {
		return counts, err
	}
	if counts.Connections, err = reseal(ctx, db, keys,
		`SELECT app_id::text AS key, deploy_key AS sealed FROM connections WHERE deploy_key <> ''`,
		`UPDATE connections SET deploy_key = $3 WHERE app_id::text = $1 AND deploy_key = $2`,
		DeployKeyPurpose); err != nil {
		return counts, err
	}
	// The key is "{user id}:{team id}", which TeamGrantPurpose prefixes.
	if counts.TeamGrants, err = reseal(ctx, db, keys,
		`SELECT user_id::text || ':' || team_id::text AS key, token AS sealed FROM team_grants`,
		`UPDATE team_grants SET token = $3 WHERE user_id::text || ':' || team_id::text = $1 AND token = $2`,
		func(key string) string { return "team-grant:" + key }); err != nil {
		return counts, err
	}
	// A key taken meanwhile is simply not updated.
	counts.AuthKeys, err = reseal(ctx, db, keys,
		`SELECT id::text AS key, sealed_key AS sealed FROM auth_key_stock`,
		`UPDATE auth_key_stock SET sealed_key = $3 WHERE id::text = $1 AND sealed_key = $2`,
		func(string) string { return AuthKeyPurpose })
	return counts, err
}

func reseal(ctx context.Context, db *sqlx.DB, keys *credentials.Keyring, selectQuery, updateQuery string, purpose func(string) string) (int, error) {
	var rows []struct {
		Key    string `db:"key"`
		Sealed string `db:"sealed"`
	}
	if err := db.SelectContext(ctx, &rows, selectQuery); err != nil {
		return 0, err
	}
	n := 0
	for _, row := range rows {
		if !keys.NeedsReseal(row.Sealed) {
			continue
		}
		plain, err := keys.Open(row.Sealed, purpose(row.Key))
		if err != nil {
			return n, err
		}
		fresh, err := keys.Seal(plain, purpose(row.Key))
		if err != nil {
			return n, err
		}
		if _, err := db.ExecContext(ctx, updateQuery, row.Key, row.Sealed, fresh); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
