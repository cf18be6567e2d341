package handlers

import (
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"chefdeploy/models"
)

// requireUser returns the signed-in session, or answers for a signed-out
// visitor: a page is sent to the login, an HTMX request is told to go there,
// and anything else gets 401. ok is false when it answered.
func (s *Server) requireUser(w http.ResponseWriter, r *http.Request) (sess *models.SessionWithUser, ok bool) {
	if sess = currentSession(r); sess != nil {
		return sess, true
	}
	switch {
	case r.Header.Get("HX-Request") == "true":
		// HTMX names the page it runs in: the sign-in comes back to it.
		back := ""
		if u, err := url.Parse(r.Header.Get("HX-Current-URL")); err == nil && u.Host == r.Host {
			back = u.RequestURI()
		}
		w.Header().Set("HX-Redirect", loginURL(back))
		w.WriteHeader(http.StatusUnauthorized)
	case r.Method == http.MethodGet:
		// After the sign-in, the browser comes back to the page it asked for.
		http.Redirect(w, r, loginURL(r.URL.RequestURI()), http.StatusFound)
	default:
		s.renderError(w, r, models.Errorf(models.EUNAUTHORIZED, "Your session has ended. Please sign in again."))
	}
	return nil, false
}

// loginURL starts a sign-in that comes back to the local path back.
func loginURL(back string) string {
	if back = localPath(back); back == "" || back == "/" {
		return "/auth/login"
	}
	return "/auth/login?return=" + url.QueryEscape(back)
}

// ownedApp resolves the {id} of the path (an id or a slug) to one of the
// user's apps; anyone else's app is the same 404 as a missing one.
func (s *Server) ownedApp(w http.ResponseWriter, r *http.Request) (*models.SessionWithUser, models.App, bool) {
	sess, ok := s.requireUser(w, r)
	if !ok {
		return nil, models.App{}, false
	}
	app, err := models.AppByRef(r.Context(), s.db, sess.UserID, r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err)
		return nil, app, false
	}
	return sess, app, true
}

// ownedAppStatus is ownedApp for the hot path of the status poll: an id in the
// path is answered from the status cache without touching the apps table.
func (s *Server) ownedAppStatus(w http.ResponseWriter, r *http.Request) (*models.SessionWithUser, models.AppStatus, bool) {
	sess, ok := s.requireUser(w, r)
	if !ok {
		return nil, models.AppStatus{}, false
	}
	ref := r.PathValue("id")
	if _, err := uuid.Parse(ref); err != nil {
		app, err := models.AppByRef(r.Context(), s.db, sess.UserID, ref)
		if err != nil {
			s.renderError(w, r, err)
			return nil, models.AppStatus{}, false
		}
		ref = app.ID
	}
	st, err := s.statuses.Get(r.Context(), ref)
	if err == nil && st.OwnerID != sess.UserID {
		err = models.ErrNotFound
	}
	if err != nil {
		s.renderError(w, r, err)
		return nil, st, false
	}
	return sess, st, true
}

// convexToken opens the signed-in session's Convex token.
func (s *Server) convexToken(r *http.Request, sess *models.SessionWithUser) (string, error) {
	return s.cfg.Credentials.OpenString(sess.ConvexToken, sessionTokenPurpose(s.sessionID(r)))
}
