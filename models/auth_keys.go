package models

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jmoiron/sqlx"

	"chefdeploy/credentials"
)

// AuthKeyPurpose is what every key of the auth key stock is sealed for. The
// keys are interchangeable until one is taken, so no row binds its own.
const AuthKeyPurpose = "auth-key-stock"

// StockAuthKey seals a Convex Auth private key (PKCS#8 DER) and adds it to
// the stock every replica takes from.
func StockAuthKey(ctx context.Context, db sqlx.ExecerContext, keys *credentials.Keyring, der []byte) error {
	sealed, err := keys.Seal(der, AuthKeyPurpose)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `INSERT INTO auth_key_stock (sealed_key) VALUES ($1)`, sealed)
	return err
}

// TakeAuthKey removes the oldest key from the stock and returns it (PKCS#8
// DER); ErrNotFound when the stock is empty. The row is deleted as it is
// read, and a key another taker holds is skipped, so no two takers, on any
// replica, get the same key. A key that does not open (sealed under a key
// no longer in CREDENTIALS_KEY) is of no use to anyone: it is discarded
// and the next one taken.
func TakeAuthKey(ctx context.Context, db sqlx.QueryerContext, keys *credentials.Keyring) ([]byte, error) {
	for {
		var sealed string
		err := sqlx.GetContext(ctx, db, &sealed, `
			DELETE FROM auth_key_stock
			 WHERE id = (SELECT id FROM auth_key_stock ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
			RETURNING sealed_key`)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		if der, err := keys.Open(sealed, AuthKeyPurpose); err == nil {
			return der, nil
		}
	}
}

// CountAuthKeys is how many keys the stock holds.
func CountAuthKeys(ctx context.Context, db sqlx.QueryerContext) (int, error) {
	var n int
	err := sqlx.GetContext(ctx, db, &n, `SELECT count(*) FROM auth_key_stock`)
	return n, err
}
