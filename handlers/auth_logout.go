package handlers

import (
	"net/http"

	"chefdeploy/models"
)

// authLogout ends the session on the server and forgets the cookie.
func (s *Server) authLogout(w http.ResponseWriter, r *http.Request) {
	if sid := s.sessionID(r); sid != "" {
		if err := models.DeleteSession(r.Context(), s.db, sid); err != nil {
			s.renderError(w, r, err)
			return
		}
		s.sessions.Invalidate(sid)
	}
	s.clearSessionCookie(w, r)
	if sess := currentSession(r); sess != nil {
		s.log.Info("logout", "request_id", RequestID(r.Context()), "user_id", sess.UserID)
		// The session has ended whatever happens here; a lost event is an
		// error for the operators, not for the person leaving.
		if err := models.RecordEvent(r.Context(), s.db, sess.UserID, "", models.EventLogout, ""); err != nil {
			s.log.Error("recording the logout failed", "request_id", RequestID(r.Context()), "user_id", sess.UserID, "err", err)
		}
	}
	if isFragmentRequest(r) {
		w.Header().Set("HX-Redirect", "/")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
