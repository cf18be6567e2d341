package handlers

import (
	"net/http"

	"github.com/a-h/templ"

	"chefdeploy/models"
	"chefdeploy/views"
)

// appDeploys renders the deploy panel: form, progress and history.
func (s *Server) appDeploys(w http.ResponseWriter, r *http.Request) {
	_, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	s.renderDeploys(w, r, app, http.StatusOK, "", false)
}

// renderDeploys renders the app's deploy panel with an optional message.
func (s *Server) renderDeploys(w http.ResponseWriter, r *http.Request, app models.App, status int, message string, isError bool) {
	conn, err := models.ConnectionByApp(r.Context(), s.db, app.ID)
	if err != nil && err != models.ErrNotFound {
		s.renderError(w, r, err)
		return
	}
	deploys, err := models.AppDeploys(r.Context(), s.db, app.ID, 20)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := views.DeploysView{AppID: app.ID, MaxMB: s.cfg.MaxBundleBytes >> 20, Message: message, Error: isError}
	if conn.State == models.StateConnected {
		v.SiteURL = s.cfg.SiteLink(conn.DeploymentName)
	}
	for i, d := range deploys {
		item := views.DeployItem{
			ID: d.ID, AppID: app.ID, Status: d.Status, Error: d.Error, By: d.UserEmail.String,
			At: d.CreatedAt, Bytes: d.BundleBytes, Files: d.FileCount, Duration: d.Duration(),
			SiteURL: d.SiteURL, Rollback: d.RollbackOf.Valid, Live: d.Live,
		}
		// Any kept bundle but the one live now can be redeployed.
		item.CanRollBack = d.BundleKept && d.Status != models.DeployUploading && !(i == 0 && d.Status == models.DeployLive) &&
			conn.State == models.StateConnected && !v.Polling()
		v.Deploys = append(v.Deploys, item)
	}
	if isFragmentRequest(r) && (r.Method == http.MethodPost || !v.Polling()) {
		// A deploy or rollback started, or a poll found one ended: its event
		// is in the app's history now.
		page, err := s.appPageView(r.Context(), models.AppStatus{AppID: app.ID, OwnerID: app.OwnerID, Slug: app.Slug, Name: app.Name})
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		s.render(w, r, status, app.Name, templ.Join(views.DeploysPanel(v), views.HistoryUpdate(page)))
		return
	}
	s.render(w, r, status, app.Name, views.DeploysPanel(v))
}
