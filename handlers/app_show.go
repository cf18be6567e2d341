package handlers

import (
	"context"
	"net/http"

	"github.com/a-h/templ"

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
	v, err := s.appPageView(r.Context(), st)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.RenameError = renameError
	s.render(w, r, status, app.Name, views.AppPage(v))
}

// appPageView is the app's page for its status st, with its latest events.
func (s *Server) appPageView(ctx context.Context, st models.AppStatus) (views.AppPageView, error) {
	events, err := models.AppEvents(ctx, s.db, st.AppID, 20)
	if err != nil {
		return views.AppPageView{}, err
	}
	v := views.AppPageView{ID: st.AppID, Name: st.Name, Slug: st.Slug, Status: s.statusView(st)}
	if v.SuggestedName, err = models.DuplicateName(ctx, s.db, st.AppID, st.Name); err != nil {
		return views.AppPageView{}, err
	}
	if c := st.Connection; c != nil && c.ProjectSlug != "" {
		v.ProjectName = c.TeamSlug + "/" + c.ProjectSlug
	}
	for _, e := range events {
		v.Events = append(v.Events, views.EventItem{Kind: e.Kind, Detail: e.Detail, At: e.CreatedAt})
	}
	return v, nil
}

// renderConnectionChange answers a request that changed the app's connection,
// or a poll that found it changed: the status fragment sv and, for HTMX, the
// rest of the app's page that changed with it (the delete menu, the history),
// swapped out of band.
func (s *Server) renderConnectionChange(w http.ResponseWriter, r *http.Request, st models.AppStatus, sv views.StatusView) {
	if !isFragmentRequest(r) {
		s.render(w, r, http.StatusOK, st.Name, views.StatusFragment(sv))
		return
	}
	v, err := s.appPageView(r.Context(), st)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.Status = sv
	s.render(w, r, http.StatusOK, st.Name, templ.Join(views.StatusFragment(sv), views.AppPageUpdates(v)))
}
