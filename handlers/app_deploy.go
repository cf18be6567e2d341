package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"chefdeploy/bundle"
	"chefdeploy/jobs"
	"chefdeploy/models"
)

// appDeploy takes a zip of the built site, validates it before anything leaves
// the server, stores it (deduplicated by hash) and records a deploy whose
// upload to Convex hosting runs as a job. The bundle is streamed to a
// temporary file and then to the database, never held whole in memory.
func (s *Server) appDeploy(w http.ResponseWriter, r *http.Request) {
	sess, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	refuse := func(status int, msg string) { s.renderDeploys(w, r, app, status, msg, true) }
	conn, err := models.ConnectionByApp(r.Context(), s.db, app.ID)
	if err != nil || conn.State != models.StateConnected {
		refuse(http.StatusConflict, "Connect the app to Convex before deploying.")
		return
	}

	limit := s.cfg.MaxBundleBytes
	// The temporary space an upload may take: what it declares, at most the
	// largest bundle and its multipart framing.
	reserve := limit + 1<<20
	if r.ContentLength > 0 && r.ContentLength < reserve {
		reserve = r.ContentLength
	}
	up, err := s.uploads.begin(w, r, sess.UserID, reserve)
	switch {
	case errors.Is(err, errTooManyUploads):
		w.Header().Set("Retry-After", "30")
		refuse(http.StatusTooManyRequests, fmt.Sprintf("You are already sending %d uploads at once; wait for one to finish, then deploy again.", s.cfg.MaxUploadsPerUser))
		return
	case errors.Is(err, errUploadSpace):
		w.Header().Set("Retry-After", "60")
		refuse(http.StatusServiceUnavailable, "The server is busy receiving other uploads; try again in a minute.")
		return
	case errors.Is(err, errServerStopping):
		w.Header().Set("Retry-After", "5")
		refuse(http.StatusServiceUnavailable, "The server is restarting; deploy again in a moment.")
		return
	}
	defer up.end()                                   // after the temporary file is removed
	r.Body = http.MaxBytesReader(w, up, limit+1<<20) // room for the multipart framing
	tmp, size, sum, err := s.receiveBundle(r, limit)
	if tmp != nil {
		defer os.Remove(tmp.Name())
		defer tmp.Close()
	}
	up.received()
	if errors.Is(err, errUploadTooSlow) || errors.Is(err, errServerStopping) {
		// The server cancels the request's context once the body is cut
		// off; the answer is still rendered, within a bound.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		r = r.WithContext(ctx)
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, errUploadTooSlow):
		w.Header().Set("Connection", "close")
		refuse(http.StatusRequestTimeout, fmt.Sprintf("The upload was too slow (under %d KB/s for %v); check the connection and deploy again.",
			max(1, s.cfg.UploadMinRate>>10), s.cfg.UploadRateWindow))
		return
	case errors.Is(err, errServerStopping):
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", "5")
		refuse(http.StatusServiceUnavailable, "The server is restarting; deploy again in a moment.")
		return
	case errors.As(err, &tooBig) || errors.Is(err, errBundleTooBig):
		refuse(http.StatusRequestEntityTooLarge, "The bundle is larger than "+bundle.FormatBytes(limit)+".")
		return
	case errors.Is(err, errNoBundle):
		refuse(http.StatusUnprocessableEntity, "Choose a .zip of your built site to deploy.")
		return
	case err != nil:
		s.renderError(w, r, err)
		return
	}

	limits := bundle.DefaultLimits()
	limits.MaxCompressedBytes = limit
	manifest, err := bundle.Validate(tmp, size, limits)
	var invalid *bundle.Error
	if errors.As(err, &invalid) {
		refuse(http.StatusUnprocessableEntity, "This bundle was refused: "+invalid.Message)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		s.renderError(w, r, err)
		return
	}
	d := models.Deploy{
		AppID: app.ID, BundleSHA256: sum, BundleBytes: size, FileCount: manifest.Files,
		DeploymentName: conn.DeploymentName, SiteURL: s.cfg.SiteLink(conn.DeploymentName),
	}
	d.UserID.String = sess.UserID
	b := models.Bundle{SHA256: sum, Bytes: size, Files: manifest.Files, UncompressedBytes: manifest.UncompressedBytes}
	if err := s.startDeploy(r, d, &b, tmp, models.EventDeployStarted, fmt.Sprintf("%d files, %d bytes", manifest.Files, size)); err != nil {
		s.renderError(w, r, err)
		return
	}
	s.renderDeploys(w, r, app, http.StatusOK, "", false)
}

var (
	errBundleTooBig = errors.New("bundle too big")
	errNoBundle     = errors.New("no bundle field")
	errBundleGone   = errors.New("bundle no longer kept")
)

// receiveBundle streams the multipart field "bundle" into a temporary file,
// hashing it on the way, and stops past limit bytes.
func (s *Server) receiveBundle(r *http.Request, limit int64) (*os.File, int64, string, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, 0, "", errNoBundle
	}
	for range 8 { // a form has few fields; skip a handful at most
		part, err := mr.NextPart()
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) || errors.Is(err, errUploadTooSlow) || errors.Is(err, errServerStopping) {
				return nil, 0, "", err
			}
			return nil, 0, "", errNoBundle
		}
		if part.FormName() != "bundle" {
			part.Close()
			continue
		}
		tmp, err := os.CreateTemp(s.cfg.UploadTempDir, "chefdeploy-bundle-*.zip")
		if err != nil {
			return nil, 0, "", err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(part, limit+1))
		if err != nil {
			return tmp, 0, "", err
		}
		if n > limit {
			return tmp, 0, "", errBundleTooBig
		}
		if n == 0 {
			return tmp, 0, "", errNoBundle
		}
		return tmp, n, hex.EncodeToString(h.Sum(nil)), nil
	}
	return nil, 0, "", errNoBundle
}

// startDeploy stores the bundle (when b is given), records the deploy and
// enqueues its upload, all in one transaction.
func (s *Server) startDeploy(r *http.Request, d models.Deploy, b *models.Bundle, content io.Reader, event, detail string) error {
	ctx := r.Context()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Held until the deploy is recorded, so pruning cannot take the bundle
	// from under it (a rollback, or an upload of bytes already stored).
	stored, err := models.HoldBundle(ctx, tx, d.BundleSHA256)
	if err != nil {
		return err
	}
	if b != nil {
		if err := models.StoreBundle(ctx, tx, *b, content); err != nil {
			return err
		}
	} else if !stored {
		return errBundleGone
	}
	created, err := models.CreateDeploy(ctx, tx, d)
	if err != nil {
		return err
	}
	if err := jobs.EnqueueDeploy(ctx, s.jobs.Client, tx, created); err != nil {
		return err
	}
	if err := models.RecordEvent(ctx, tx, d.UserID.String, d.AppID, event, detail); err != nil {
		return err
	}
	return tx.Commit()
}
