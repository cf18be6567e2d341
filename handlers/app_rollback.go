package handlers

import (
	"errors"
	"net/http"

	"chefdeploy/models"
)

// appRollback redeploys the bundle of an earlier deploy, in one click.
func (s *Server) appRollback(w http.ResponseWriter, r *http.Request) {
	sess, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	earlier, err := models.DeployByID(r.Context(), s.db, app.ID, r.PathValue("deploy"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	conn, err := models.ConnectionByApp(r.Context(), s.db, app.ID)
	if err != nil || conn.State != models.StateConnected {
		s.renderDeploys(w, r, app, http.StatusConflict, "Connect the app to Convex before rolling back.", true)
		return
	}
	gone := func() {
		s.renderDeploys(w, r, app, http.StatusGone, "That deploy's bundle is no longer kept (only the last 5 are).", true)
	}
	if _, err := models.BundleByHash(r.Context(), s.db, earlier.BundleSHA256); errors.Is(err, models.ErrNotFound) {
		gone()
		return
	} else if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := models.Deploy{
		AppID: app.ID, BundleSHA256: earlier.BundleSHA256, BundleBytes: earlier.BundleBytes, FileCount: earlier.FileCount,
		DeploymentName: conn.DeploymentName, SiteURL: s.cfg.SiteLink(conn.DeploymentName),
	}
	d.UserID.String = sess.UserID
	d.RollbackOf.String = earlier.ID
	err = s.startDeploy(r, d, nil, nil, models.EventRollback, "to the deploy of "+earlier.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	if errors.Is(err, errBundleGone) { // pruned since the check above
		gone()
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.renderDeploys(w, r, app, http.StatusOK, "", false)
}
