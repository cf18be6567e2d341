package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"chefdeploy/models"
)

// An OAuth flow in flight (PKCE S256 with a state bound to the browser,
// CONTRACT §3) is kept the way the login keeps its own: the state and
// verifier live in a signed, encrypted cookie of the browser that started
// it, so starting one writes nothing on the server; the state itself is
// signed and timestamped, so a callback recognises it without a lookup; and
// its first callback spends it in the database, so it works once.

// oauthFlow names one kind of flow: its cookie and the label of the key its
// states are signed with, so a state of one flow is no state of another.
type oauthFlow struct {
	cookie   string
	macLabel string
}

// teamGrantFlow authorizes a Convex team (CONTRACT §3.2).
var teamGrantFlow = oauthFlow{cookie: "chefdeploy_teams", macLabel: "team-state"}

// pendingAuth is one flow in flight in the browser's cookie.
type pendingAuth struct {
	State    string `json:"s"`
	Verifier string `json:"v"`
	Started  int64  `json:"t"`
	// UserID is who started it; Return is where to go once it is done.
	UserID string `json:"u,omitempty"`
	Return string `json:"r,omitempty"`
}

// maxPendingAuths is how many flows of a kind one browser may have in
// flight (tabs); the oldest gives way.
const maxPendingAuths = 3

// startAuth puts a new flow for userID, returning to returnTo, into the
// browser's cookie and returns it.
func (s *Server) startAuth(w http.ResponseWriter, r *http.Request, f oauthFlow, userID, returnTo string) (pendingAuth, error) {
	now := time.Now()
	p := pendingAuth{State: s.newAuthState(f, now), Verifier: oauth2.GenerateVerifier(), Started: now.Unix(), UserID: userID, Return: returnTo}
	pending := append(s.pendingAuths(r, f), p)
	if len(pending) > maxPendingAuths {
		pending = pending[len(pending)-maxPendingAuths:]
	}
	return p, s.savePendingAuths(w, r, f, pending)
}

// errStaleState is a callback's state that is missing, not ours, expired,
// already used or not started in this browser.
var errStaleState = errors.New("stale oauth state")

// spendAuth checks a callback's state and spends it: it must be one of f's,
// fresh, never used before, and in flight in this browser. It returns the
// flow, or errStaleState, or another error when the database failed.
func (s *Server) spendAuth(w http.ResponseWriter, r *http.Request, f oauthFlow, state string) (pendingAuth, error) {
	if state == "" || !s.genuineAuthState(f, state) {
		return pendingAuth{}, errStaleState
	}
	// Spent at its first callback, whichever browser brings it: neither a
	// replay nor a copy of the old cookie can use it again.
	if err := models.UseLoginState(r.Context(), s.db, state); errors.Is(err, models.ErrNotFound) {
		return pendingAuth{}, errStaleState
	} else if err != nil {
		return pendingAuth{}, err
	}
	pending := s.pendingAuths(r, f)
	for i, p := range pending {
		if subtle.ConstantTimeCompare([]byte(p.State), []byte(state)) == 1 {
			rest := append(pending[:i:i], pending[i+1:]...)
			if err := s.savePendingAuths(w, r, f, rest); err != nil {
				s.log.Warn("updating the "+f.cookie+" cookie", "request_id", RequestID(r.Context()), "err", err)
			}
			return p, nil
		}
	}
	return pendingAuth{}, errStaleState
}

// pendingAuths are the browser's unexpired flows of kind f.
func (s *Server) pendingAuths(r *http.Request, f oauthFlow) []pendingAuth {
	raw := s.cookieValue(r, f.cookie, "pending")
	if raw == "" {
		return nil
	}
	var all []pendingAuth
	if json.Unmarshal([]byte(raw), &all) != nil {
		return nil
	}
	fresh := all[:0]
	for _, p := range all {
		if time.Since(time.Unix(p.Started, 0)) < models.LoginAttemptLifetime {
			fresh = append(fresh, p)
		}
	}
	return fresh
}

func (s *Server) savePendingAuths(w http.ResponseWriter, r *http.Request, f oauthFlow, pending []pendingAuth) error {
	if len(pending) == 0 {
		s.clearCookie(w, r, f.cookie)
		return nil
	}
	raw, err := json.Marshal(pending)
	if err != nil {
		return err
	}
	return s.setCookieValue(w, r, f.cookie, "pending", string(raw), int(models.LoginAttemptLifetime.Seconds()))
}

// newAuthState is random, with its start time, signed with a key derived
// from SESSION_SECRET for f.
func (s *Server) newAuthState(f oauthFlow, now time.Time) string {
	body := randomToken() + "." + strconv.FormatInt(now.Unix(), 10)
	return body + "." + s.authStateMAC(f, body)
}

// genuineAuthState reports whether state is one of f's and still fresh.
func (s *Server) genuineAuthState(f oauthFlow, state string) bool {
	i := strings.LastIndexByte(state, '.')
	if i < 0 || !hmac.Equal([]byte(state[i+1:]), []byte(s.authStateMAC(f, state[:i]))) {
		return false
	}
	_, started, _ := strings.Cut(state[:i], ".")
	unix, err := strconv.ParseInt(started, 10, 64)
	return err == nil && time.Since(time.Unix(unix, 0)) < models.LoginAttemptLifetime
}

func (s *Server) authStateMAC(f oauthFlow, body string) string {
	mac := hmac.New(sha256.New, deriveKey(s.cfg.SessionSecret, f.macLabel))
	mac.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
