// Package sites is chefdeploy's own static hosting, platform mode's answer
// to Convex having no public hosting API (CONTRACT §2.5): at deploy time
// Publisher unpacks a stored bundle into PostgreSQL once, file by file,
// compressed ahead of time; the live pointer of the app's site flips to it
// in the transaction that records the deploy live; and Handler serves every
// connected app's live site on the sites listener, hot files from a
// bounded memory cache and the rest streamed from the database.
package sites

import (
	"archive/zip"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/jmoiron/sqlx"

	"chefdeploy/models"
)

// Publisher makes deploys live on chefdeploy's own sites listener. It
// satisfies jobs.Publisher.
type Publisher struct {
	DB *sqlx.DB
	// TempDir is where the bundle is spooled while it is unpacked ("" is
	// the system's).
	TempDir string
	Logger  *slog.Logger
}

// Publish unpacks the deploy's bundle into the database, unless an earlier
// deploy (a rollback's, or another app's of the same bytes) did: then
// there is nothing to do, and the deploy goes live at once. The deploy key
// is not needed: the site is served here, not uploaded to Convex.
func (p Publisher) Publish(ctx context.Context, d models.Deploy, _ string, open func() (io.ReadCloser, error)) error {
	done, err := models.SiteBundleUnpacked(ctx, p.DB, d.BundleSHA256)
	if err != nil || done {
		return err
	}
	zipFile, err := p.spool(open)
	if zipFile != nil {
		defer os.Remove(zipFile.Name())
		defer zipFile.Close()
	}
	if err != nil {
		return err
	}
	return p.unpack(ctx, d.BundleSHA256, zipFile, d.BundleBytes)
}

// Live points the app's site at the deploy's bundle.
func (Publisher) Live(ctx context.Context, tx *sqlx.Tx, d models.Deploy) error {
	return models.SetLiveSite(ctx, tx, d)
}

// FailureMessage says why publishing failed.
func (Publisher) FailureMessage(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "Publishing the site timed out; deploy again."
	}
	return "Publishing the site failed; deploy again."
}

// spool copies the stored bundle to a temporary file: a zip is read from its
// end, and the database streams it from the start.
func (p Publisher) spool(open func() (io.ReadCloser, error)) (*os.File, error) {
	rc, err := open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := os.CreateTemp(p.TempDir, "chefdeploy-site-*.zip")
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(f, rc); err != nil {
		return f, err
	}
	return f, nil
}

// unpack stores every file of the zip in one transaction: either the whole
// bundle is unpacked, or none of it is.
func (p Publisher) unpack(ctx context.Context, bundleSHA string, zipFile *os.File, size int64) error {
	zr, err := zip.NewReader(zipFile, size)
	if err != nil {
		return fmt.Errorf("reading bundle %s: %w", bundleSHA, err)
	}
	scratch, err := newScratch(p.TempDir)
	if err != nil {
		return err
	}
	defer scratch.close()

	return models.InTx(ctx, p.DB, func(tx *sqlx.Tx) error {
		mine, err := models.BeginSiteBundle(ctx, tx, bundleSHA)
		if err != nil || !mine {
			return err // or unpacked by another deploy meanwhile
		}
		var files int
		var total int64
		for _, f := range zr.File {
			if f.FileInfo().IsDir() || strings.HasSuffix(f.Name, "/") {
				continue
			}
			n, err := p.storeFile(ctx, tx, scratch, bundleSHA, f)
			if err != nil {
				return fmt.Errorf("unpacking %s: %w", f.Name, err)
			}
			files++
			total += n
		}
		return models.FinishSiteBundle(ctx, tx, bundleSHA, files, total)
	})
}

// storeFile stores one file of the bundle: its content once (by hash),
// with its gzip and brotli variants when they are smaller.
func (p Publisher) storeFile(ctx context.Context, tx *sqlx.Tx, s *scratch, bundleSHA string, f *zip.File) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, err
	}
	h := sha256.New()
	size, err := s.fill(s.plain, io.TeeReader(rc, h))
	rc.Close()
	if err != nil {
		return 0, err
	}
	blob := hex.EncodeToString(h.Sum(nil))
	name := strings.TrimPrefix(f.Name, "./")
	contentType := ContentType(name)
	fresh, err := models.BeginSiteBlob(ctx, tx, blob, size)
	if err != nil {
		return 0, err
	}
	if fresh {
		if err := s.store(ctx, tx, s.plain, blob, models.EncodingIdentity); err != nil {
			return 0, err
		}
		if compressible(contentType) && size > 0 {
			for _, enc := range []string{models.EncodingGzip, models.EncodingBrotli} {
				if err := s.storeCompressed(ctx, tx, blob, enc, size); err != nil {
					return 0, err
				}
			}
		}
	}
	return size, models.AddSiteFile(ctx, tx, bundleSHA, name, blob, contentType)
}

// scratch is two reusable temporary files: one file's content, and one
// compressed variant of it, so that no file is ever held in memory whole.
type scratch struct {
	plain, packed *os.File
}

func newScratch(dir string) (*scratch, error) {
	plain, err := os.CreateTemp(dir, "chefdeploy-site-file-*")
	if err != nil {
		return nil, err
	}
	packed, err := os.CreateTemp(dir, "chefdeploy-site-file-*")
	if err != nil {
		plain.Close()
		os.Remove(plain.Name())
		return nil, err
	}
	return &scratch{plain: plain, packed: packed}, nil
}

func (s *scratch) close() {
	for _, f := range []*os.File{s.plain, s.packed} {
		f.Close()
		os.Remove(f.Name())
	}
}

// fill replaces f's content with r's.
func (s *scratch) fill(f *os.File, r io.Reader) (int64, error) {
	if err := f.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	return io.Copy(f, r)
}

// store writes f's content as encoding enc of blob.
func (s *scratch) store(ctx context.Context, tx *sqlx.Tx, f *os.File, blob, enc string) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := models.WriteSiteBlob(ctx, tx, blob, enc, f)
	return err
}

// storeCompressed compresses the plain file with enc, and stores the result
// only when it is smaller than the original.
func (s *scratch) storeCompressed(ctx context.Context, tx *sqlx.Tx, blob, enc string, size int64) error {
	if _, err := s.plain.Seek(0, io.SeekStart); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		var w io.WriteCloser
		if enc == models.EncodingGzip {
			w, _ = gzip.NewWriterLevel(pw, gzip.BestCompression)
		} else {
			// Quality 9 compresses nearly as well as 11 at many times the
			// speed, which keeps a large deploy's unpacking short.
			w = brotli.NewWriterLevel(pw, 9)
		}
		_, err := io.Copy(w, s.plain)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	n, err := s.fill(s.packed, pr)
	pr.Close()
	if err != nil || n >= size {
		return err
	}
	return s.store(ctx, tx, s.packed, blob, enc)
}
