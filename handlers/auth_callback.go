package handlers

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"chefdeploy/models"
	"chefdeploy/views"
)

// authCallback finishes the login: it checks the state against the logins
// in flight in the browser's cookie and that it was not used before,
// exchanges the code with the PKCE verifier, verifies the ID token (and its
// nonce) and opens a new server-side session for the person it names.
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

	if q.Get("error") == "access_denied" {
		// The person said no on the provider's page: nothing failed.
		s.renderErrorView(w, r, views.ErrorView{
			Status:      http.StatusOK,
			Title:       "Sign-in was cancelled",
			Message:     "You cancelled the sign-in, so nothing changed. Sign in whenever you are ready.",
			ActionLabel: "Try again",
			ActionURL:   loginURL(login.Return),
		})
		return
	}
	if oauthErr := q.Get("error"); oauthErr != "" {
		msg := "The sign-in provider did not sign you in (" + truncate(oauthErr, 64) + ")."
		if desc := q.Get("error_description"); desc != "" {
			msg = "The sign-in provider did not sign you in: " + truncate(desc, 200)
		}
		s.loginFailed(w, r, http.StatusBadRequest, msg)
		return
	}
	code := q.Get("code")
	if code == "" {
		s.loginFailed(w, r, http.StatusBadRequest, "This sign-in link has no authorization code. Please sign in again.")
		return
	}
	provider, err := s.login.get(r.Context())
	if err != nil {
		s.loginUnavailable(w, r, err)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	ctx = oidc.ClientContext(ctx, s.client)
	token, err := provider.oauth.Exchange(ctx, code, oauth2.VerifierOption(login.Verifier))
	if err != nil {
		s.log.Warn("oauth token exchange failed", "request_id", RequestID(r.Context()), "reason", exchangeFailure(err))
		s.loginFailed(w, r, http.StatusBadGateway, "The sign-in provider did not accept this sign-in. Please try again.")
		return
	}
	id, groups, err := s.verifiedIdentity(ctx, provider, token, login.Nonce)
	if err != nil {
		// A forged, foreign, stale or replayed ID token: nothing is stored.
		s.log.Warn("id token refused", "request_id", RequestID(r.Context()), "reason", err.Error())
		s.loginFailed(w, r, http.StatusBadRequest, "The sign-in provider's answer could not be verified. Please sign in again.")
		return
	}
	// A new session id at every login; the previous one, if any, ends.
	sid, old := randomToken(), s.sessionID(r)
	sealed, err := s.cfg.Credentials.SealString(token.AccessToken, sessionTokenPurpose(sid))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	var sealedRefresh string
	if token.RefreshToken != "" {
		if sealedRefresh, err = s.cfg.Credentials.SealString(token.RefreshToken, models.RefreshTokenPurpose(models.HashSessionID(sid))); err != nil {
			s.renderError(w, r, err)
			return
		}
	}
	user, err := models.RecordLogin(ctx, s.db, models.Login{
		Identity:  id,
		SessionID: sid, SealedSessionToken: sealed, SealedRefreshToken: sealedRefresh, PreviousSessionID: old,
		SupportGroup:       s.cfg.SupportOIDCGroup,
		SupportGroupMember: s.cfg.SupportOIDCGroup != "" && slices.Contains(groups, s.cfg.SupportOIDCGroup),
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
	http.Redirect(w, r, cmp.Or(localPath(login.Return), "/"), http.StatusSeeOther)
}

func (s *Server) loginFailed(w http.ResponseWriter, r *http.Request, status int, message string) {
	s.renderErrorView(w, r, views.ErrorView{
		Status:      status,
		Title:       "Sign-in did not complete",
		Message:     message,
		ActionLabel: "Sign in again",
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

// idClaims are the ID token's (or userinfo's) claims the login reads.
// email_verified and groups come in more than one shape from real
// providers, hence any.
type idClaims struct {
	Email         string `json:"email"`
	EmailVerified any    `json:"email_verified"`
	Name          string `json:"name"`
	Groups        any    `json:"groups"`
}

// verifiedIdentity verifies the ID token of token (signature against the
// provider's JWKS, issuer, audience, expiry, then nonce and, when present,
// at_hash) and returns who it names and their groups. Email and name missing
// from the ID token are asked of userinfo.
func (s *Server) verifiedIdentity(ctx context.Context, p *discoveredProvider, token *oauth2.Token, nonce string) (models.OIDCIdentity, []string, error) {
	raw, _ := token.Extra("id_token").(string)
	if raw == "" {
		return models.OIDCIdentity{}, nil, errors.New("no id_token in the token response")
	}
	idToken, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return models.OIDCIdentity{}, nil, err
	}
	if subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(nonce)) != 1 {
		return models.OIDCIdentity{}, nil, errors.New("the nonce does not match this login")
	}
	if idToken.AccessTokenHash != "" {
		if err := idToken.VerifyAccessToken(token.AccessToken); err != nil {
			return models.OIDCIdentity{}, nil, err
		}
	}
	var c idClaims
	if err := idToken.Claims(&c); err != nil {
		return models.OIDCIdentity{}, nil, err
	}
	id := models.OIDCIdentity{
		Issuer: idToken.Issuer, Subject: idToken.Subject,
		Name: c.Name, Email: c.Email, EmailVerified: truthy(c.EmailVerified),
	}
	groups := stringList(c.Groups)
	if id.Email == "" || id.Name == "" {
		info, err := p.provider.UserInfo(ctx, oauth2.StaticTokenSource(token))
		var ui idClaims
		switch {
		case err != nil:
			s.log.Warn("userinfo failed; signing in with the ID token's claims", "err", err)
		case info.Subject != idToken.Subject:
			return models.OIDCIdentity{}, nil, errors.New("userinfo names another subject")
		case info.Claims(&ui) == nil:
			if id.Email == "" {
				id.Email, id.EmailVerified = info.Email, info.EmailVerified
			}
			if id.Name == "" {
				id.Name = ui.Name
			}
			if groups == nil {
				groups = stringList(ui.Groups)
			}
		}
	}
	if id.Name == "" {
		id.Name = cmp.Or(id.Email, id.Subject)
	}
	return id, groups, nil
}

// truthy reads a boolean claim sent as a JSON boolean or as "true".
func truthy(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return b == "true"
	}
	return false
}

// stringList reads a claim sent as a list of strings or as one string.
func stringList(v any) []string {
	switch l := v.(type) {
	case string:
		return []string{l}
	case []any:
		var out []string
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
