package handlers

import (
	"errors"
	"net/http"

	"github.com/a-h/templ"

	"chefdeploy/models"
	"chefdeploy/views"
)

// appRevealDeployKey shows the owner their app's deploy key, on explicit
// request, and records that it was revealed.
func (s *Server) appRevealDeployKey(w http.ResponseWriter, r *http.Request) {
	sess, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	c, err := models.ConnectionByApp(r.Context(), s.db, app.ID)
	if errors.Is(err, models.ErrNotFound) || (err == nil && (c.State != models.StateConnected || c.DeployKey == "")) {
		s.renderError(w, r, models.Errorf(models.ENOTFOUND, "This app has no deploy key: connect it first."))
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	key, err := s.cfg.Credentials.OpenString(c.DeployKey, models.DeployKeyPurpose(app.ID))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := models.RecordEvent(r.Context(), s.db, sess.UserID, app.ID, models.EventKeyRevealed, ""); err != nil {
		s.renderError(w, r, err)
		return
	}
	panel := views.EnvPanel(views.EnvView{
		AppID: app.ID, DeploymentName: c.DeploymentName, DeploymentURL: c.DeploymentURL, DeployKey: key,
	})
	if !isFragmentRequest(r) {
		s.render(w, r, http.StatusOK, app.Name, panel)
		return
	}
	// The reveal is in the history now.
	page, err := s.appPageView(r.Context(), models.AppStatus{AppID: app.ID, OwnerID: app.OwnerID, Slug: app.Slug, Name: app.Name, Connection: &c})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, app.Name, templ.Join(panel, views.HistoryUpdate(page)))
}
