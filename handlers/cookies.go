package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"

	"chefdeploy/models"
)

const (
	// sessionCookie holds only the opaque session id; the session lives in the database.
	sessionCookie = "chefdeploy_session"
	// loginCookie binds a login in flight to the browser that started it.
	loginCookie = "chefdeploy_login"
)

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// cookieValue reads one value out of a signed, encrypted cookie; "" when the
// cookie is absent, forged or was made with another SESSION_SECRET.
func (s *Server) cookieValue(r *http.Request, name, key string) string {
	sess, err := s.cookies.Get(r, name)
	if err != nil {
		return ""
	}
	v, _ := sess.Values[key].(string)
	return v
}

func (s *Server) setCookieValue(w http.ResponseWriter, r *http.Request, name, key, value string, maxAge int) error {
	sess, _ := s.cookies.New(r, name)
	sess.Values = map[any]any{key: value}
	opts := *s.cookies.Options
	opts.MaxAge = maxAge
	sess.Options = &opts
	return sess.Save(r, w)
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	s.setCookieValue(w, r, name, "x", "", -1)
}

func (s *Server) sessionID(r *http.Request) string { return s.cookieValue(r, sessionCookie, "sid") }

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, sid string) error {
	return s.setCookieValue(w, r, sessionCookie, "sid", sid, int(models.SessionLifetime.Seconds()))
}

func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	s.clearCookie(w, r, sessionCookie)
}
