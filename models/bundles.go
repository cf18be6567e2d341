package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"

	"github.com/jmoiron/sqlx"
)

// BundleChunkSize is how much of a bundle one row holds.
const BundleChunkSize = 1 << 20

// BundlesKeptPerApp is how many distinct bundles an app keeps for rollback.
const BundlesKeptPerApp = 5

// Bundle is a stored site bundle.
type Bundle struct {
	SHA256            string `db:"sha256"`
	Bytes             int64  `db:"bytes"`
	Files             int    `db:"files"`
	UncompressedBytes int64  `db:"uncompressed_bytes"`
}

// StoreBundle saves a bundle read from r under its hash, unless the same
// bytes are stored already. It reads r in chunks, never whole.
func StoreBundle(ctx context.Context, tx *sqlx.Tx, b Bundle, r io.Reader) error {
	res, err := tx.ExecContext(ctx, `
		INSERT INTO bundles (sha256, bytes, files, uncompressed_bytes) VALUES ($1, $2, $3, $4)
		ON CONFLICT (sha256) DO NOTHING`, b.SHA256, b.Bytes, b.Files, b.UncompressedBytes)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // deduplicated
	}
	buf := make([]byte, BundleChunkSize)
	var written int64
	for seq := 0; ; seq++ {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO bundle_chunks (sha256, seq, data) VALUES ($1, $2, $3)`, b.SHA256, seq, buf[:n]); err != nil {
				return err
			}
			written += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if written != b.Bytes {
		return fmt.Errorf("bundle %s: stored %d bytes, expected %d", b.SHA256, written, b.Bytes)
	}
	return nil
}

// BundleByHash returns a stored bundle's record, or ErrNotFound once pruned.
func BundleByHash(ctx context.Context, db sqlx.QueryerContext, sha string) (Bundle, error) {
	var b Bundle
	err := sqlx.GetContext(ctx, db, &b, `SELECT sha256, bytes, files, uncompressed_bytes FROM bundles WHERE sha256 = $1`, sha)
	if errors.Is(err, sql.ErrNoRows) {
		return b, ErrNotFound
	}
	return b, err
}

// OpenBundle streams a stored bundle chunk by chunk.
func OpenBundle(ctx context.Context, db *sqlx.DB, sha string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		for seq := 0; ; seq++ {
			var data []byte
			err := db.GetContext(ctx, &data, `SELECT data FROM bundle_chunks WHERE sha256 = $1 AND seq = $2`, sha, seq)
			if errors.Is(err, sql.ErrNoRows) {
				pw.Close()
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := pw.Write(data); err != nil {
				return // the reader went away
			}
		}
	}()
	return pr
}

// PruneBundles deletes the app's bundles that are no longer among the last
// BundlesKeptPerApp it deployed and that no other app keeps either.
func PruneBundles(ctx context.Context, db sqlx.ExtContext, appID string) (int64, error) {
	res, err := db.ExecContext(ctx, `
		WITH ranked AS (
		    SELECT app_id, bundle_sha256,
		           row_number() OVER (PARTITION BY app_id ORDER BY max(created_at) DESC) AS rn
		      FROM deploys
		     WHERE bundle_sha256 IN (SELECT bundle_sha256 FROM deploys WHERE app_id = $1)
		     GROUP BY app_id, bundle_sha256
		)
		DELETE FROM bundles
		 WHERE sha256 IN (SELECT bundle_sha256 FROM ranked WHERE app_id = $1 AND rn > $2)
		   AND sha256 NOT IN (SELECT bundle_sha256 FROM ranked WHERE rn <= $2)`,
		appID, BundlesKeptPerApp)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
