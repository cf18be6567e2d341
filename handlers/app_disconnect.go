package handlers

import (
	"errors"
	"net/http"

	"chefdeploy/models"
	"chefdeploy/views"
)

// appDisconnect drops the app's link and its stored credentials; the Convex
// project itself is kept, and the fragment says so.
func (s *Server) appDisconnect(w http.ResponseWriter, r *http.Request) {
	sess, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	c, err := s.connections.Disconnect(r.Context(), sess.UserID, app.ID)
	v := views.StatusView{AppID: app.ID, State: models.StateNone}
	switch {
	case errors.Is(err, models.ErrNotFound):
		v.Notice = "This app was not connected."
	case err != nil:
		s.renderError(w, r, err)
		return
	default:
		s.statuses.Invalidate(app.ID)
		v.Notice = "Disconnected. chefdeploy no longer holds a deploy key for this app."
		if c.ProjectSlug != "" {
			v.Notice = "Disconnected from " + c.TeamSlug + "/" + c.ProjectSlug +
				". The Convex project is kept on its team; chefdeploy deleted its deploy key."
		}
	}
	st := models.AppStatus{AppID: app.ID, OwnerID: app.OwnerID, Slug: app.Slug, Name: app.Name}
	s.renderConnectionChange(w, r, st, v)
}
