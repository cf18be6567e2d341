package handlers

import (
	"net/http"

	"golang.org/x/oauth2"

	"chefdeploy/models"
)

// authLogin starts "Log in with Convex": a fresh state and PKCE verifier are
// recorded for this browser, then the browser goes to Convex's authorize page.
func (s *Server) authLogin(w http.ResponseWriter, r *http.Request) {
	if currentSession(r) != nil {
		http.Redirect(w, r, "/", http.StatusFound)
		return
	}
	// One browser may start logins in several tabs; they share the binding.
	browserID := s.cookieValue(r, loginCookie, "browser")
	if browserID == "" {
		browserID = randomToken()
	}
	state := randomToken()
	verifier := oauth2.GenerateVerifier()
	sealed, err := s.cfg.Credentials.SealString(verifier, "pkce:"+state)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := models.CreateLoginAttempt(r.Context(), s.db, state, browserID, sealed); err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := s.setCookieValue(w, r, loginCookie, "browser", browserID, int(models.LoginAttemptLifetime.Seconds())); err != nil {
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, s.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}
