package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// apiTokenPrefix marks chefdeploy API tokens, so a leaked one is recognisable.
const apiTokenPrefix = "cdp_"

// APIToken is a user's token for the builder's API. Only a hash is stored.
type APIToken struct {
	ID         string       `db:"id"`
	UserID     string       `db:"user_id"`
	Name       string       `db:"name"`
	Prefix     string       `db:"prefix"`
	CreatedAt  time.Time    `db:"created_at"`
	LastUsedAt sql.NullTime `db:"last_used_at"`
	RevokedAt  sql.NullTime `db:"revoked_at"`
}

// MaxAPITokenNameLength bounds the name a user gives a token.
const MaxAPITokenNameLength = 60

// APITokenForm is the form that makes an API token.
type APITokenForm struct {
	Name string
}

// Validate returns a message per field that is wrong; empty when all is well.
func (f *APITokenForm) Validate() map[string]string {
	valid := ValidName(f.Name)
	f.Name = strings.Join(strings.Fields(f.Name), " ")
	errs := map[string]string{}
	switch {
	case !valid:
		errs["name"] = UnusableMessage("name")
	case f.Name == "" || utf8.RuneCountInString(f.Name) > MaxAPITokenNameLength:
		errs["name"] = fmt.Sprintf("Name the token (up to %d characters), e.g. after what will use it.", MaxAPITokenNameLength)
	}
	return errs
}

func hashAPIToken(token string) []byte {
	sum := sha256.Sum256([]byte("api-token:" + token))
	return sum[:]
}

// CreateAPIToken makes a token and records api_token_created, in one
// transaction, and returns the token in clear, the only time it exists so.
func CreateAPIToken(ctx context.Context, db *sqlx.DB, userID, name string) (string, APIToken, error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	token := apiTokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	var t APIToken
	err := InTx(ctx, db, func(tx *sqlx.Tx) error {
		if err := sqlx.GetContext(ctx, tx, &t, `
			INSERT INTO api_tokens (user_id, name, token_hash, prefix) VALUES ($1, $2, $3, $4)
			RETURNING id, user_id, name, prefix, created_at, last_used_at, revoked_at`,
			userID, name, hashAPIToken(token), token[:len(apiTokenPrefix)+6]); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, userID, "", EventTokenCreated, t.Name+" ("+t.Prefix+"…)")
	})
	if err != nil {
		return "", APIToken{}, err
	}
	return token, t, nil
}

// APITokensOf lists a user's tokens, newest first.
func APITokensOf(ctx context.Context, db sqlx.QueryerContext, userID string) ([]APIToken, error) {
	var ts []APIToken
	err := sqlx.SelectContext(ctx, db, &ts, `
		SELECT id, user_id, name, prefix, created_at, last_used_at, revoked_at
		  FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC LIMIT 100`, userID)
	return ts, err
}

// RevokeAPIToken ends one of the user's tokens and records
// api_token_revoked, in one transaction; another user's is ErrNotFound.
func RevokeAPIToken(ctx context.Context, db *sqlx.DB, userID, id string) (APIToken, error) {
	var t APIToken
	if _, err := uuid.Parse(id); err != nil {
		return t, ErrNotFound
	}
	err := InTx(ctx, db, func(tx *sqlx.Tx) error {
		err := sqlx.GetContext(ctx, tx, &t, `
			UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now())
			 WHERE id = $1 AND user_id = $2
			RETURNING id, user_id, name, prefix, created_at, last_used_at, revoked_at`, id, userID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return RecordEvent(ctx, tx, userID, "", EventTokenRevoked, t.Name+" ("+t.Prefix+"…)")
	})
	return t, err
}

// UserByAPIToken returns the user a live token belongs to, or ErrNotFound.
func UserByAPIToken(ctx context.Context, db sqlx.ExtContext, token string) (string, error) {
	if !strings.HasPrefix(token, apiTokenPrefix) {
		return "", ErrNotFound
	}
	var userID string
	err := sqlx.GetContext(ctx, db, &userID, `
		UPDATE api_tokens SET last_used_at = now()
		 WHERE token_hash = $1 AND revoked_at IS NULL
		RETURNING user_id`, hashAPIToken(token))
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return userID, err
}
