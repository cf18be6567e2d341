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

// teamCallback finishes authorizing a Convex team (CONTRACT §3.2): it
// spends the state this browser started, exchanges the code with the PKCE
// verifier, asks token_details which team the token covers, and stores the
// grant sealed, replacing the user's earlier grant for that team.
func (s *Server) teamCallback(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	p, err := s.spendAuth(w, r, teamGrantFlow, q.Get("state"))
	if errors.Is(err, errStaleState) || err == nil && p.UserID != sess.UserID {
		s.teamAuthFailed(w, r, http.StatusBadRequest, "This authorization link has expired, was already used, or was started in another browser or by another user. Nothing was changed.", "")
		return
	} else if err != nil {
		s.renderError(w, r, err)
		return
	}
	back := p.Return
	if back == "" {
		back = "/settings"
	}
	// Convex's own answer: shown, and nothing changes.
	if oauthErr := q.Get("error"); oauthErr != "" {
		msg := "Convex did not authorize the team (" + truncate(oauthErr, 64) + ")."
		if desc := q.Get("error_description"); desc != "" {
			msg = "Convex did not authorize the team: " + truncate(desc, 200)
		}
		s.teamAuthFailed(w, r, http.StatusBadRequest, msg, back)
		return
	}
	code := q.Get("code")
	if code == "" {
		s.teamAuthFailed(w, r, http.StatusBadRequest, "This authorization link has no authorization code. Nothing was changed.", back)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	token, err := s.teamOAuth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, s.client), code, oauth2.VerifierOption(p.Verifier))
	if err != nil {
		s.log.Warn("team token exchange failed", "request_id", RequestID(r.Context()), "reason", tokenExchangeFailure(err))
		s.teamAuthFailed(w, r, http.StatusBadGateway, "Convex did not accept this authorization. Please try again.", back)
		return
	}
	slug := convex.TeamSlugFromToken(token.AccessToken)
	if slug == "" {
		s.log.Warn("team token without a team slug", "request_id", RequestID(r.Context()))
		s.teamAuthFailed(w, r, http.StatusBadGateway, "Convex answered with a token that names no team. Nothing was changed.", back)
		return
	}
	details, err := s.platform.TokenDetails(ctx, token.AccessToken)
	if err != nil {
		s.log.Warn("token_details failed", "request_id", RequestID(r.Context()), "team_slug", slug, "err", err)
		s.teamAuthFailed(w, r, http.StatusBadGateway, convex.UserMessage(err), back)
		return
	}
	sealed, err := s.cfg.Credentials.SealString(token.AccessToken, models.TeamGrantPurpose(sess.UserID, details.TeamID))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	g, err := models.SaveTeamGrant(ctx, s.db, models.TeamGrant{
		UserID: sess.UserID, TeamID: details.TeamID, TeamSlug: slug,
		Token: sealed, TokenID: details.ID, TokenName: truncate(details.Name, 200),
	})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.log.Info("team authorized", "request_id", RequestID(r.Context()), "user_id", sess.UserID, "team_id", g.TeamID, "team_slug", g.TeamSlug)
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// teamAuthFailed is the page of a team authorization that did not
// complete; back, when set, is where the person came from.
func (s *Server) teamAuthFailed(w http.ResponseWriter, r *http.Request, status int, message, back string) {
	e := views.ErrorView{
		Status:      status,
		Title:       "The team was not authorized",
		Message:     message,
		ActionLabel: "Authorize the team again",
		ActionURL:   "/teams/authorize?return=/settings",
	}
	if back != "" {
		e.ActionLabel, e.ActionURL = "Back", back
	}
	s.renderErrorView(w, r, e)
}

// tokenExchangeFailure describes a failed token exchange for the log
// without the response body, which is the provider's and may echo what we
// sent.
func tokenExchangeFailure(err error) string {
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
