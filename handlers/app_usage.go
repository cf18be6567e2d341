package handlers

import (
	"context"
	"net/http"
	"time"

	"chefdeploy/convex"
	"chefdeploy/models"
	"chefdeploy/views"
)

// appUsage renders the token usage meter of the app's team from get_token_info.
func (s *Server) appUsage(w http.ResponseWriter, r *http.Request) {
	sess, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	conn, err := models.ConnectionByApp(r.Context(), s.db, app.ID)
	if err != nil || conn.State != models.StateConnected {
		s.renderError(w, r, models.Errorf(models.ENOTFOUND, "This app is not connected to a Convex team."))
		return
	}
	v := views.UsageView{AppID: app.ID, TeamSlug: conn.TeamSlug}
	usage := s.backend.Usage()
	if usage == nil {
		v.Unavailable = "Convex's public API does not report a team's token usage, so there is no meter here. See the team's usage in the Convex dashboard."
		s.render(w, r, http.StatusOK, app.Name, views.UsageMeter(v))
		return
	}
	token, err := s.convexToken(r, sess)
	if err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		var info convex.TokenInfo
		if info, err = usage.TokenInfo(ctx, token, conn.TeamSlug); err == nil {
			v.Used, v.Quota, v.Disabled, v.PaidPlan = info.CentitokensUsed, info.CentitokensQuota, info.IsTeamDisabled, info.IsPaidPlan
		}
	}
	if err != nil {
		v.Error = "Usage is unavailable right now: " + convex.UserMessage(err)
	}
	s.render(w, r, http.StatusOK, app.Name, views.UsageMeter(v))
}
