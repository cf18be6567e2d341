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
				". The Convex project is kept on its team; " + s.keyFate(r, sess.UserID, c)
		}
	}
	st := models.AppStatus{AppID: app.ID, OwnerID: app.OwnerID, Slug: app.Slug, Name: app.Name}
	s.renderConnectionChange(w, r, st, v)
}

// keyFate says what became of a dropped connection's deploy key. A key
// with a name is deleted at Convex by a job, with the owner's grant for the
// team; without a live grant it stays valid until deleted by hand
// (CONTRACT §2.1).
func (s *Server) keyFate(r *http.Request, ownerID string, c models.Connection) string {
	if c.DeployKeyName == "" {
		return "chefdeploy deleted its deploy key."
	}
	if _, _, err := s.creds.Credentials(r.Context(), ownerID, c.TeamSlug); err != nil {
		return "chefdeploy forgot its deploy key " + c.DeployKeyName + ", which stays valid until it is deleted in the Convex dashboard: chefdeploy holds no authorization for team " + c.TeamSlug + " to delete it."
	}
	return "chefdeploy deleted its deploy key " + c.DeployKeyName + "."
}
