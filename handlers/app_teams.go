package handlers

import (
	"context"
	"net/http"
	"time"

	"chefdeploy/convex"
	"chefdeploy/models"
	"chefdeploy/views"
)

// teamsFreshFor is how long the team selector trusts the teams it fetched.
const teamsFreshFor = 30 * time.Second

// connectLabels are the Connect button's texts; the query picks one of them.
var connectLabels = map[string]bool{"Connect": true, "Try again": true, "Connect to a new project": true, views.ChooseAnotherTeam: true}

// appTeams renders the team selector: the user's Convex teams, the last one
// they picked (or their only one) selected, and the Connect button.
func (s *Server) appTeams(w http.ResponseWriter, r *http.Request) {
	sess, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	label := r.URL.Query().Get("label")
	if !connectLabels[label] {
		label = "Connect"
	}
	v := views.TeamSelectorView{AppID: app.ID, Label: label}
	teams, err := s.userTeams(r, sess, teamsFreshFor)
	if err != nil {
		s.log.Warn("listing teams failed", "request_id", RequestID(r.Context()), "err", err)
		v.Error = "Could not load your Convex teams: " + convex.UserMessage(err)
		s.render(w, r, http.StatusOK, "Teams", views.TeamSelector(v))
		return
	}
	for _, t := range teams.Teams {
		v.Teams = append(v.Teams, views.TeamOption{Slug: t.Slug, Name: t.Name})
		// After a failure that team would repeat, it is not preselected.
		if t.Slug == teams.Selected && t.Slug != r.URL.Query().Get("avoid") {
			v.Selected = t.Slug
		}
	}
	// A new connection does not start from a team whose last attempt failed.
	if v.Selected != "" && label != "Try again" {
		failed, err := models.TeamLastFailed(r.Context(), s.db, sess.UserID, v.Selected)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		if failed {
			v.Selected = ""
		}
	}
	if len(v.Teams) == 1 {
		v.Selected = v.Teams[0].Slug
	}
	if len(v.Teams) == 0 {
		v.Error = "Your Convex account has no teams. Create one in the Convex dashboard, then retry."
	}
	s.render(w, r, http.StatusOK, "Teams", views.TeamSelector(v))
}

// userTeams returns the user's teams, fetched from the provision host with
// their token when the cached list is older than maxAge. Concurrent fetches
// for one user on this replica share one call.
func (s *Server) userTeams(r *http.Request, sess *models.SessionWithUser, maxAge time.Duration) (models.UserTeams, error) {
	cached, err := models.TeamsOf(r.Context(), s.db, sess.UserID)
	if err != nil {
		return cached, err
	}
	if !cached.FetchedAt.IsZero() && time.Since(cached.FetchedAt) < maxAge {
		return cached, nil
	}
	v, err, _ := s.teamFetches.Do(sess.UserID, func() (any, error) { return s.fetchTeams(r, sess, cached) })
	teams, _ := v.(models.UserTeams)
	return teams, err
}

// fetchTeams lists the user's teams at the provision host and caches them.
func (s *Server) fetchTeams(r *http.Request, sess *models.SessionWithUser, cached models.UserTeams) (models.UserTeams, error) {
	token, err := s.convexToken(r, sess)
	if err != nil {
		return cached, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	list, err := s.convex.Teams(ctx, token)
	if err != nil {
		return cached, err
	}
	cached.Teams = nil
	for _, t := range list {
		cached.Teams = append(cached.Teams, models.Team{Slug: t.Slug, Name: t.Name})
	}
	cached.FetchedAt = time.Now()
	return cached, models.SetTeams(r.Context(), s.db, sess.UserID, cached.Teams)
}
