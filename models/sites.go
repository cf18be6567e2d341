package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"

	"github.com/jmoiron/sqlx"
)

// SiteChunkSize is how much of one site file a row holds: a typical asset
// is one row, and a Range of a large file reads only the rows it covers.
const SiteChunkSize = 256 << 10

// Site file encodings, as stored and as sent in Content-Encoding.
const (
	EncodingIdentity = "identity"
	EncodingGzip     = "gzip"
	EncodingBrotli   = "br"
)

// SiteChangedChannel is the NOTIFY channel on which the database announces
// the deployment whose site changed (see migration 00011).
const SiteChangedChannel = "chefdeploy_site_changed"

// LiveSite is what a deployment's site serves now.
type LiveSite struct {
	AppID        string `db:"app_id"`
	BundleSHA256 string `db:"bundle_sha256"`
}

// SiteFile is one file of an unpacked bundle, with its blob's sizes.
type SiteFile struct {
	BundleSHA256 string `db:"bundle_sha256"`
	Path         string `db:"path"`
	BlobSHA256   string `db:"blob_sha256"`
	ContentType  string `db:"content_type"`
	Bytes        int64  `db:"bytes"`
	GzipBytes    int64  `db:"gzip_bytes"`
	BrotliBytes  int64  `db:"br_bytes"`
}

// Size is the length of the file in encoding enc; 0 when not stored.
func (f SiteFile) Size(enc string) int64 {
	switch enc {
	case EncodingGzip:
		return f.GzipBytes
	case EncodingBrotli:
		return f.BrotliBytes
	}
	return f.Bytes
}

// LoadLiveSite returns what deploymentName's site serves, or ErrNotFound when
// no connected app has a live site on it: never deployed, disconnected,
// deleted, or connected elsewhere since.
func LoadLiveSite(ctx context.Context, db sqlx.QueryerContext, deploymentName string) (LiveSite, error) {
	var s LiveSite
	err := sqlx.GetContext(ctx, db, &s, `
		SELECT s.app_id, s.bundle_sha256
		  FROM sites s
		  JOIN connections c ON c.app_id = s.app_id AND c.state = 'connected' AND c.deployment_name = s.deployment_name
		 WHERE s.deployment_name = $1
		 ORDER BY s.updated_at DESC
		 LIMIT 1`, deploymentName)
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrNotFound
	}
	return s, err
}

// SiteFileByPath returns one file of an unpacked bundle, or ErrNotFound.
func SiteFileByPath(ctx context.Context, db sqlx.QueryerContext, bundleSHA, path string) (SiteFile, error) {
	var f SiteFile
	err := sqlx.GetContext(ctx, db, &f, `
		SELECT f.bundle_sha256, f.path, f.blob_sha256, f.content_type, b.bytes, b.gzip_bytes, b.br_bytes
		  FROM site_files f JOIN site_blobs b ON b.sha256 = f.blob_sha256
		 WHERE f.bundle_sha256 = $1 AND f.path = $2`, bundleSHA, path)
	if errors.Is(err, sql.ErrNoRows) {
		return f, ErrNotFound
	}
	return f, err
}

// ErrSiteBlobUnreadable is a site file whose stored chunks are missing.
var ErrSiteBlobUnreadable = errors.New("the stored site file cannot be read")

// SiteBlobChunk returns chunk seq of blob sha in encoding enc.
func SiteBlobChunk(ctx context.Context, db sqlx.QueryerContext, sha, enc string, seq int) ([]byte, error) {
	var data []byte
	err := sqlx.GetContext(ctx, db, &data, `SELECT data FROM site_blob_chunks WHERE sha256 = $1 AND encoding = $2 AND seq = $3`, sha, enc, seq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s/%s chunk %d", ErrSiteBlobUnreadable, sha, enc, seq)
	}
	return data, err
}

// SiteBundleUnpacked reports whether bundleSHA's files are all stored.
func SiteBundleUnpacked(ctx context.Context, db sqlx.QueryerContext, bundleSHA string) (bool, error) {
	var ok bool
	err := sqlx.GetContext(ctx, db, &ok, `SELECT EXISTS (SELECT 1 FROM site_bundles WHERE bundle_sha256 = $1)`, bundleSHA)
	return ok, err
}

// BeginSiteBundle records that tx unpacks bundleSHA. It is false when the
// bundle is unpacked already (by an earlier deploy, or by a transaction that
// committed while this one waited), and then nothing else is to be done.
func BeginSiteBundle(ctx context.Context, tx *sqlx.Tx, bundleSHA string) (bool, error) {
	res, err := tx.ExecContext(ctx, `
		INSERT INTO site_bundles (bundle_sha256, files, bytes) VALUES ($1, 0, 0)
		ON CONFLICT (bundle_sha256) DO NOTHING`, bundleSHA)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// FinishSiteBundle records the unpacked bundle's totals.
func FinishSiteBundle(ctx context.Context, tx *sqlx.Tx, bundleSHA string, files int, bytes int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE site_bundles SET files = $2, bytes = $3 WHERE bundle_sha256 = $1`, bundleSHA, files, bytes)
	return err
}

// BeginSiteBlob records blob sha of size bytes. It is false when the blob
// is stored already: its chunks are not to be written again, and the blob
// is locked against pruning until tx ends.
func BeginSiteBlob(ctx context.Context, tx *sqlx.Tx, sha string, bytes int64) (bool, error) {
	for range 3 {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO site_blobs (sha256, bytes) VALUES ($1, $2)
			ON CONFLICT (sha256) DO NOTHING`, sha, bytes)
		if err != nil {
			return false, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return n == 1, err
		}
		// Stored: keep it from being pruned (pruneSiteBlobs) from here on.
		// If a prune deleted it meanwhile, it is stored again.
		var kept bool
		err = tx.GetContext(ctx, &kept, `SELECT true FROM site_blobs WHERE sha256 = $1 FOR KEY SHARE`, sha)
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, err
		}
	}
	return false, fmt.Errorf("site blob %s: deleted and stored again repeatedly", sha)
}

// WriteSiteBlob stores one encoding of blob sha from r in chunks, and
// records its size for the compressed encodings.
func WriteSiteBlob(ctx context.Context, tx *sqlx.Tx, sha, enc string, r io.Reader) (int64, error) {
	buf := make([]byte, SiteChunkSize)
	var written int64
	for seq := 0; ; seq++ {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO site_blob_chunks (sha256, encoding, seq, data) VALUES ($1, $2, $3, $4)`,
				sha, enc, seq, buf[:n]); err != nil {
				return written, err
			}
			written += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return written, err
		}
	}
	column := map[string]string{EncodingGzip: "gzip_bytes", EncodingBrotli: "br_bytes"}[enc]
	if column != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE site_blobs SET `+column+` = $2 WHERE sha256 = $1`, sha, written); err != nil {
			return written, err
		}
	}
	return written, nil
}

// AddSiteFile records that the unpacked bundle has path, with content blob.
func AddSiteFile(ctx context.Context, tx *sqlx.Tx, bundleSHA, path, blob, contentType string) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO site_files (bundle_sha256, path, blob_sha256, content_type) VALUES ($1, $2, $3, $4)
		ON CONFLICT (bundle_sha256, path) DO NOTHING`, bundleSHA, path, blob, contentType)
	return err
}

// SetLiveSite points the app's site at the deploy's unpacked bundle; it runs
// in the transaction that records the deploy live.
func SetLiveSite(ctx context.Context, tx *sqlx.Tx, d Deploy) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO sites (app_id, deployment_name, deploy_id, bundle_sha256) VALUES ($1, $2, $3, $4)
		ON CONFLICT (app_id) DO UPDATE
		   SET deployment_name = EXCLUDED.deployment_name, deploy_id = EXCLUDED.deploy_id,
		       bundle_sha256 = EXCLUDED.bundle_sha256, updated_at = now()`,
		d.AppID, d.DeploymentName, d.ID, d.BundleSHA256)
	return err
}

// TakeSiteDown removes the app's site (a disconnect); the connection's own
// change already stops it serving, this lets its bundles be pruned.
func TakeSiteDown(ctx context.Context, db sqlx.ExecerContext, appID string) error {
	_, err := db.ExecContext(ctx, `DELETE FROM sites WHERE app_id = $1`, appID)
	return err
}

// pruneSiteBlobs deletes blobs no unpacked bundle uses any more. A blob that
// an unpacking in flight is about to use is kept by the foreign key check
// of its site_files row (which locks the blob), so this skips blobs it
// cannot lock at once.
func pruneSiteBlobs(ctx context.Context, tx *sqlx.Tx) (int64, error) {
	res, err := tx.ExecContext(ctx, `
		DELETE FROM site_blobs b
		 WHERE b.sha256 IN (SELECT o.sha256 FROM site_blobs o
		                     WHERE NOT EXISTS (SELECT 1 FROM site_files f WHERE f.blob_sha256 = o.sha256)
		                       FOR UPDATE SKIP LOCKED)`)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
