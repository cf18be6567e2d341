package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
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

// ErrBundleUnreadable is what reading a stored bundle fails with when it
// is missing or shorter than recorded.
var ErrBundleUnreadable = errors.New("the stored bundle cannot be read")

// OpenBundle streams a stored bundle of size bytes chunk by chunk. A bundle
// that is missing, or ends before size bytes, fails the read with
// ErrBundleUnreadable rather than ending it early.
func OpenBundle(ctx context.Context, db *sqlx.DB, sha string, size int64) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		var read int64
		for seq := 0; ; seq++ {
			var data []byte
			err := db.GetContext(ctx, &data, `SELECT data FROM bundle_chunks WHERE sha256 = $1 AND seq = $2`, sha, seq)
			if errors.Is(err, sql.ErrNoRows) {
				if read != size {
					pw.CloseWithError(fmt.Errorf("%w: bundle %s ends after %d of %d bytes", ErrBundleUnreadable, sha, read, size))
					return
				}
				pw.Close()
				return
			}
			if err != nil {
				pw.CloseWithError(fmt.Errorf("%w: %w", ErrBundleUnreadable, err))
				return
			}
			read += int64(len(data))
			if _, err := pw.Write(data); err != nil {
				return // the reader went away
			}
		}
	}()
	return pr
}

// bundleLock is the advisory lock that keeps a bundle from being pruned
// while a deploy that will use it is being recorded.
const bundleLock = `hashtextextended('bundle ' || $1, 0)`

// HoldBundle keeps the bundle sha from being pruned until tx ends; a
// transaction that records a deploy of it calls it first. It reports
// whether the bundle is stored.
func HoldBundle(ctx context.Context, tx *sqlx.Tx, sha string) (bool, error) {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock_shared(`+bundleLock+`)`, sha); err != nil {
		return false, err
	}
	var stored bool
	err := tx.GetContext(ctx, &stored, `SELECT EXISTS (SELECT 1 FROM bundles WHERE sha256 = $1)`, sha)
	return stored, err
}

// prunable is the condition a bundle b must meet to be pruned for app $1:
// it is no longer among the last $2 distinct bundles the app deployed, nor
// among any other app's last $2, no deploy referencing it is in flight
// (uploading, queued or waiting for its turn), and it is not what any app
// serves now (its latest live deploy, or the bundle its site points at).
const prunable = `
	NOT EXISTS (SELECT 1 FROM sites s WHERE s.bundle_sha256 = b.sha256) AND
	b.sha256 IN (SELECT bundle_sha256 FROM ranked WHERE app_id = $1 AND rn > $2)
	AND b.sha256 NOT IN (SELECT bundle_sha256 FROM ranked WHERE rn <= $2)
	AND NOT EXISTS (SELECT 1 FROM deploys d WHERE d.bundle_sha256 = b.sha256 AND d.status = 'uploading')
	AND NOT EXISTS (
	    SELECT 1 FROM deploys d
	     WHERE d.bundle_sha256 = b.sha256 AND d.status = 'live'
	       AND NOT EXISTS (SELECT 1 FROM deploys n
	                        WHERE n.app_id = d.app_id AND n.status = 'live' AND n.finished_at > d.finished_at))`

const rankedBundles = `
	WITH ranked AS (
	    SELECT app_id, bundle_sha256,
	           row_number() OVER (PARTITION BY app_id ORDER BY max(created_at) DESC) AS rn
	      FROM deploys
	     WHERE bundle_sha256 IN (SELECT bundle_sha256 FROM deploys WHERE app_id = $1)
	     GROUP BY app_id, bundle_sha256
	)`

// PruneBundles deletes the app's bundles that are prunable (see prunable).
// A bundle that a deploy being recorded holds (HoldBundle) is skipped this
// time: the candidates are locked first, then checked again by a statement
// that sees every deploy committed before the locks were taken.
func PruneBundles(ctx context.Context, db *sqlx.DB, appID string) (int64, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var candidates []string
	if err := tx.SelectContext(ctx, &candidates, rankedBundles+`
		SELECT b.sha256 FROM bundles b WHERE `+prunable, appID, BundlesKeptPerApp); err != nil {
		return 0, err
	}
	if len(candidates) == 0 {
		return 0, nil
	}
	var locked []string
	if err := tx.SelectContext(ctx, &locked, `
		SELECT sha FROM unnest($1::text[]) AS sha WHERE pg_try_advisory_xact_lock(`+strings.ReplaceAll(bundleLock, "$1", "sha")+`)`,
		pq.Array(candidates)); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, rankedBundles+`
		DELETE FROM bundles b WHERE b.sha256 = ANY($3) AND `+prunable, appID, BundlesKeptPerApp, pq.Array(locked))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	// The pruned bundles' unpacked files went with them; so do the file
	// contents no other bundle shares.
	if n > 0 {
		if _, err := pruneSiteBlobs(ctx, tx); err != nil {
			return 0, err
		}
	}
	return n, tx.Commit()
}
