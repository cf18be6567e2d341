package handlers

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"chefdeploy/models"
	"chefdeploy/views"
)

// pendingLogin is a login in flight: its state, nonce and PKCE verifier, kept in the
// browser's login cookie (signed and encrypted with keys derived from
// SESSION_SECRET), so that starting a login writes nothing on the server.
// Only that browser holds it, which binds the login to the browser.
type pendingLogin struct {
	State    string `json:"s"`
	Verifier string `json:"v"`
	// Nonce must come back in the ID token (CONTRACT §3.1).
	Nonce   string `json:"n"`
	Started int64  `json:"t"`
	// Return is the local path the browser asked for before the sign-in.
	Return string `json:"r,omitempty"`
}

// maxPendingLogins is how many logins one browser may have in flight (tabs);
// the oldest gives way.
const maxPendingLogins = 3

// authLogin starts the OpenID Connect login: a fresh state, nonce and PKCE
// verifier go into this browser's login cookie, then the browser goes to the
// provider's authorization endpoint, as discovery names it.
func (s *Server) authLogin(w http.ResponseWriter, r *http.Request) {
	back := localPath(r.URL.Query().Get("return"))
	// reauth signs in again over a live session: the provider's token behind
	// it expired, or the team asks for single sign-on.
	if currentSession(r) != nil && r.URL.Query().Get("reauth") == "" {
		http.Redirect(w, r, cmp.Or(back, "/"), http.StatusFound)
		return
	}
	provider, err := s.login.get(r.Context())
	if err != nil {
		s.loginUnavailable(w, r, err)
		return
	}
	now := time.Now()
	login := pendingLogin{State: s.newLoginState(now), Verifier: oauth2.GenerateVerifier(), Nonce: randomToken(), Started: now.Unix(), Return: back}
	pending := append(s.pendingLogins(r), login)
	if len(pending) > maxPendingLogins {
		pending = pending[len(pending)-maxPendingLogins:]
	}
	if err := s.savePendingLogins(w, r, pending); err != nil {
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, provider.oauth.AuthCodeURL(login.State, oauth2.S256ChallengeOption(login.Verifier), oidc.Nonce(login.Nonce)), http.StatusFound)
}

// loginUnavailable answers a login while the provider cannot be discovered.
func (s *Server) loginUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Warn("login provider unavailable", "request_id", RequestID(r.Context()), "err", err)
	w.Header().Set("Retry-After", strconv.Itoa(int(discoveryRetry.Seconds())))
	s.renderErrorView(w, r, views.ErrorView{
		Status:      http.StatusServiceUnavailable,
		Title:       "Sign-in is unavailable",
		Message:     "The sign-in provider cannot be reached right now. Please try again in a minute.",
		ActionLabel: "Try again",
		ActionURL:   "/auth/login",
	})
}

// pendingLogins are the browser's unexpired logins in flight.
func (s *Server) pendingLogins(r *http.Request) []pendingLogin {
	raw := s.cookieValue(r, loginCookie, "logins")
	if raw == "" {
		return nil
	}
	var all []pendingLogin
	if json.Unmarshal([]byte(raw), &all) != nil {
		return nil
	}
	fresh := all[:0]
	for _, l := range all {
		if time.Since(time.Unix(l.Started, 0)) < models.LoginAttemptLifetime {
			fresh = append(fresh, l)
		}
	}
	return fresh
}

func (s *Server) savePendingLogins(w http.ResponseWriter, r *http.Request, pending []pendingLogin) error {
	if len(pending) == 0 {
		s.clearCookie(w, r, loginCookie)
		return nil
	}
	raw, err := json.Marshal(pending)
	if err != nil {
		return err
	}
	return s.setCookieValue(w, r, loginCookie, "logins", string(raw), int(models.LoginAttemptLifetime.Seconds()))
}

// takePendingLogin removes the login with state from the browser's cookie
// and returns it; ok is false when this browser has no such login in flight.
func (s *Server) takePendingLogin(w http.ResponseWriter, r *http.Request, state string) (pendingLogin, bool) {
	pending := s.pendingLogins(r)
	for i, l := range pending {
		if subtle.ConstantTimeCompare([]byte(l.State), []byte(state)) == 1 {
			rest := append(pending[:i:i], pending[i+1:]...)
			if err := s.savePendingLogins(w, r, rest); err != nil {
				s.log.Warn("updating the login cookie", "request_id", RequestID(r.Context()), "err", err)
			}
			return l, true
		}
	}
	return pendingLogin{}, false
}

// newLoginState is a state the product can recognise as its own and fresh
// without storing it: random, with its start time, signed with a key derived
// from SESSION_SECRET. So a callback can spend a genuine state even from a
// browser that lacks its cookie, while made-up states cost no write.
func (s *Server) newLoginState(now time.Time) string {
	body := randomToken() + "." + strconv.FormatInt(now.Unix(), 10)
	return body + "." + s.loginStateMAC(body)
}

// genuineLoginState reports whether state is one of ours and still fresh.
func (s *Server) genuineLoginState(state string) bool {
	i := strings.LastIndexByte(state, '.')
	if i < 0 || !hmac.Equal([]byte(state[i+1:]), []byte(s.loginStateMAC(state[:i]))) {
		return false
	}
	_, started, _ := strings.Cut(state[:i], ".")
	unix, err := strconv.ParseInt(started, 10, 64)
	return err == nil && time.Since(time.Unix(unix, 0)) < models.LoginAttemptLifetime
}

func (s *Server) loginStateMAC(body string) string {
	mac := hmac.New(sha256.New, deriveKey(s.cfg.SessionSecret, "login-state"))
	mac.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
