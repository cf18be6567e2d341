package handlers

import (
	"net/http"

	"chefdeploy/models"
)

// appDelete removes the app, its connection and its stored credentials. The
// Convex project is kept.
func (s *Server) appDelete(w http.ResponseWriter, r *http.Request) {
	sess, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	if err := models.DeleteApp(r.Context(), s.db, sess.UserID, app.ID); err != nil {
		s.renderError(w, r, err)
		return
	}
	models.RecordEvent(r.Context(), s.db, sess.UserID, app.ID, models.EventAppDeleted, app.Name)
	if isFragmentRequest(r) {
		w.Header().Set("HX-Redirect", "/")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
