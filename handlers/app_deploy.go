package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

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
	r.Body = http.MaxBytesReader(w, r.Body, limit+1<<20) // room for the multipart framing
	tmp, size, sum, err := s.receiveBundle(r, limit)
	if tmp != nil {
		defer os.Remove(tmp.Name())
		defer tmp.Close()
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || errors.Is(err, errBundleTooBig):
		refuse(http.StatusRequestEntityTooLarge, fmt.Sprintf("The bundle is larger than %d MB.", limit>>20))
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
			if errors.As(err, &tooBig) {
				return nil, 0, "", err
			}
			return nil, 0, "", errNoBundle
		}
		if part.FormName() != "bundle" {
			part.Close()
			continue
		}
		tmp, err := os.CreateTemp("", "chefdeploy-bundle-*.zip")
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
