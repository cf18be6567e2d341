package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"chefdeploy/convex"
	"chefdeploy/models"
	"chefdeploy/views"
)

// authCallback finishes the login: it checks the state against the logins
// in flight in the browser's cookie and that it was not used before, exchanges the code with the PKCE verifier, fetches the profile and
// opens a new server-side session.
func (s *Server) authCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		s.loginFailed(w, r, http.StatusBadRequest, "This sign-in link is incomplete: it has no state. Please sign in again.")
		return
	}
	const stale = "This sign-in link has expired, was already used, or was started in another browser. Please sign in again."
	if !s.genuineLoginState(state) {
		s.loginFailed(w, r, http.StatusBadRequest, stale)
		return
	}
	// A genuine state is spent at its first callback, whichever browser
	// brings it: the database remembers it, so neither a replay nor a copy
	// of the old cookie can use it again.
	if err := models.UseLoginState(r.Context(), s.db, state); errors.Is(err, models.ErrNotFound) {
		s.loginFailed(w, r, http.StatusBadRequest, stale)
		return
	} else if err != nil {
		s.renderError(w, r, err)
		return
	}
	login, ok := s.takePendingLogin(w, r, state)
	if !ok {
		s.loginFailed(w, r, http.StatusBadRequest, stale)
		return
	}

	if oauthErr := q.Get("error"); oauthErr != "" {
		msg := "Convex did not sign you in (" + truncate(oauthErr, 64) + ")."
		if desc := q.Get("error_description"); desc != "" {
			msg = "Convex did not sign you in: " + truncate(desc, 200)
		}
		s.loginFailed(w, r, http.StatusBadRequest, msg)
		return
	}
	code := q.Get("code")
	if code == "" {
		s.loginFailed(w, r, http.StatusBadRequest, "This sign-in link has no authorization code. Please sign in again.")
		return
	}
	verifier := login.Verifier

	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	token, err := s.oauth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, s.client), code, oauth2.VerifierOption(verifier))
	if err != nil {
		s.log.Warn("oauth token exchange failed", "request_id", RequestID(r.Context()), "reason", exchangeFailure(err))
		s.loginFailed(w, r, http.StatusBadGateway, "Convex did not accept this sign-in. Please try again.")
		return
	}
	profile, err := s.convex.Profile(ctx, token.AccessToken)
	if err != nil {
		s.log.Warn("profile fetch failed", "request_id", RequestID(r.Context()), "err", err)
		s.loginFailed(w, r, http.StatusBadGateway, convex.UserMessage(err))
		return
	}
	// A new session id at every login; the previous one, if any, ends.
	sid, old := randomToken(), s.sessionID(r)
	sealed, err := s.cfg.Credentials.SealString(token.AccessToken, sessionTokenPurpose(sid))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	user, err := models.RecordLogin(ctx, s.db, models.Login{
		ConvexID: profile.ID, Name: profile.Name, Email: profile.Email,
		SessionID: sid, SealedSessionToken: sealed, PreviousSessionID: old,
		// The worker acts for the user without a browser: it gets its own copy.
		SealUserToken: func(userID string) (string, error) {
			return s.cfg.Credentials.SealString(token.AccessToken, models.UserTokenPurpose(userID))
		},
	})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if old != "" {
		s.sessions.Invalidate(old)
	}
	if s.cfg.SupportTeamSlug != "" {
		if _, err := s.checkSupportTeam(ctx, user.ID, func() (string, error) { return token.AccessToken, nil }); err != nil {
			s.log.Warn("support team check at login failed", "request_id", RequestID(r.Context()), "err", err)
		}
	}
	if err := s.setSessionCookie(w, r, sid); err != nil {
		s.renderError(w, r, err)
		return
	}
	s.log.Info("login", "request_id", RequestID(r.Context()), "user_id", user.ID)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) loginFailed(w http.ResponseWriter, r *http.Request, status int, message string) {
	s.renderErrorView(w, r, views.ErrorView{
		Status:      status,
		Title:       "Sign-in did not complete",
		Message:     message,
		ActionLabel: "Log in with Convex",
		ActionURL:   "/auth/login",
	})
}

// exchangeFailure describes a failed token exchange for the log without the
// response body, which is the provider's and may echo what we sent.
func exchangeFailure(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		reason := "status " + http.StatusText(re.Response.StatusCode)
		if re.ErrorCode != "" {
			reason += ", " + truncate(re.ErrorCode, 64)
		}
		return reason
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "transport error"
}
