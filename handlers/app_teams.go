package handlers

import (
	"net/http"
	"net/url"
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
	teams, err := s.teams.list(r, sess, teamsFreshFor)
	if err != nil {
		s.log.Warn("listing teams failed", "request_id", RequestID(r.Context()), "err", err)
		v.Error = "Could not load your Convex teams: " + convex.UserMessage(err)
		s.render(w, r, http.StatusOK, "Teams", views.TeamSelector(v))
		return
	}
	if label == "Try again" {
		// Trying again starts from the team this app's attempt used.
		if c, err := models.ConnectionByApp(r.Context(), s.db, app.ID); err == nil {
			teams.selected = c.TeamSlug
		}
	}
	back := "/apps/" + app.ID
	if teams.authorize {
		v.AuthorizeURL = authorizeTeamURL("", back)
	}
	for _, t := range teams.teams {
		if t.revoked {
			v.Revoked = append(v.Revoked, views.TeamOption{Slug: t.slug, Name: t.name, AuthorizeURL: authorizeTeamURL(t.slug, back)})
			continue
		}
		v.Teams = append(v.Teams, views.TeamOption{Slug: t.slug, Name: t.name})
		// After a failure that team would repeat, it is not preselected.
		if t.slug == teams.selected && t.slug != r.URL.Query().Get("avoid") {
			v.Selected = t.slug
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
	if len(v.Teams) == 0 && len(v.Revoked) == 0 && !teams.authorize {
		v.Error = "Your Convex account has no teams. Create one in the Convex dashboard, then retry."
	}
	s.render(w, r, http.StatusOK, "Teams", views.TeamSelector(v))
}

// authorizeTeamURL starts authorizing a team (CONTRACT §3.2), preselecting
// team when it is set, and comes back to the local path back.
func authorizeTeamURL(team, back string) string {
	q := "?"
	if team != "" {
		q += "team=" + url.QueryEscape(team) + "&"
	}
	return TeamsAuthorizePath + q + "return=" + url.QueryEscape(back)
}
