package handlers

import (
	"net/http"

	"chefdeploy/models"
	"chefdeploy/views"
)

// appShow is the app's page: connection panel, team selector, env setup, history.
func (s *Server) appShow(w http.ResponseWriter, r *http.Request) {
	_, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	s.renderAppPage(w, r, app, http.StatusOK, "")
}

func (s *Server) renderAppPage(w http.ResponseWriter, r *http.Request, app models.App, status int, renameError string) {
	st, err := s.statuses.Get(r.Context(), app.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	events, err := models.AppEvents(r.Context(), s.db, app.ID, 20)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := views.AppPageView{ID: app.ID, Name: app.Name, Slug: app.Slug, Status: s.statusView(st), RenameError: renameError}
	if c := st.Connection; c != nil && c.ProjectSlug != "" {
		v.ProjectName = c.TeamSlug + "/" + c.ProjectSlug
	}
	for _, e := range events {
		v.Events = append(v.Events, views.EventItem{Kind: e.Kind, Detail: e.Detail, At: e.CreatedAt})
	}
	s.render(w, r, status, app.Name, views.AppPage(v))
}
