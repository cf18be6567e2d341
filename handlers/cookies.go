package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

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

// sessionID is the session id in the request's session cookie, "" when none.
func (s *Server) sessionID(r *http.Request) string {
	raw, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	if sid, ok := s.sidMemo.get(raw.Value); ok {
		return sid
	}
	sid := s.cookieValue(r, sessionCookie, "sid")
	if sid != "" {
		s.sidMemo.put(raw.Value, sid)
	}
	return sid
}

// sessionTokenPurpose binds the Convex token sealed in a session's row to
// that session, by its cookie's session id.
func sessionTokenPurpose(sid string) string {
	return models.SessionTokenPurpose(models.HashSessionID(sid))
}

// cookieMemo remembers what cookie values decoded to: decoding one (HMAC,
// AES, gob) costs more than the rest of a status poll. A value maps to one
// result for as long as the keys stay, so only successful decodes are kept,
// and only for ttl, after which the cookie's own max age is checked again.
type cookieMemo struct {
	ttl     time.Duration
	mu      sync.RWMutex
	entries map[string]memoEntry
}

type memoEntry struct {
	value   string
	decoded time.Time
}

// cookieMemoTTL is how long a decoded cookie is trusted before its
// signature and max age are checked again.
const cookieMemoTTL = 5 * time.Second

// maxMemoizedCookies bounds memory; past it the memo starts over.
const maxMemoizedCookies = 100_000

func newCookieMemo(ttl time.Duration) *cookieMemo {
	return &cookieMemo{ttl: ttl, entries: map[string]memoEntry{}}
}

func (m *cookieMemo) get(raw string) (string, bool) {
	m.mu.RLock()
	e, ok := m.entries[raw]
	m.mu.RUnlock()
	if !ok || time.Since(e.decoded) >= m.ttl {
		return "", false
	}
	return e.value, true
}

func (m *cookieMemo) put(raw, value string) {
	m.mu.Lock()
	if len(m.entries) >= maxMemoizedCookies {
		m.entries = map[string]memoEntry{}
	}
	m.entries[raw] = memoEntry{value: value, decoded: time.Now()}
	m.mu.Unlock()
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, sid string) error {
	return s.setCookieValue(w, r, sessionCookie, "sid", sid, int(models.SessionLifetime.Seconds()))
}

func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	s.clearCookie(w, r, sessionCookie)
}
