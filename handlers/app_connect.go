package handlers

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"chefdeploy/convex"
	"chefdeploy/jobs"
	"chefdeploy/models"
	"chefdeploy/views"
)

var teamSlugPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// appConnect starts provisioning: the connection goes to connecting and the
// provisioning and deadline jobs are enqueued in the same transaction. A
// second Connect while one is in flight starts nothing new.
func (s *Server) appConnect(w http.ResponseWriter, r *http.Request) {
	sess, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	team := strings.TrimSpace(r.PostFormValue("team"))
	if msg := s.checkTeam(r, sess, team); msg != "" {
		st, err := s.statuses.Get(r.Context(), app.ID)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		v := s.statusView(st)
		if !v.CanConnect() && v.State != models.StateConnected {
			v.State = models.StateNone
		}
		v.FormError = msg
		s.render(w, r, http.StatusUnprocessableEntity, app.Name, views.StatusFragment(v))
		return
	}

	// The worker acts with the token of the session that clicked Connect; a
	// session whose token cannot be opened has to sign in again.
	token, err := s.convexToken(r, sess)
	if err != nil {
		s.renderError(w, r, models.Errorf(models.EUNAUTHORIZED, "Your sign-in has expired. Sign in again."))
		return
	}
	sealed, err := s.cfg.Credentials.SealString(token, models.UserTokenPurpose(sess.UserID))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	conn, _, err := s.connections.Start(r.Context(), jobs.Start{
		ActorID: sess.UserID, AppID: app.ID, Team: team, SealedToken: sealed,
	})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.statuses.Invalidate(app.ID)
	st := models.AppStatus{AppID: app.ID, OwnerID: app.OwnerID, Slug: app.Slug, Name: app.Name, Connection: &conn}
	s.renderConnectionChange(w, r, st, s.statusView(st))
}

// checkTeam says what is wrong with the chosen team, "" when it is one of the
// user's teams. The cached list is refreshed when the team is not in it, but
// not more often than teamsFreshFor: a miss is cached too, so connects to a
// team the user lacks do not each list the teams at Convex.
func (s *Server) checkTeam(r *http.Request, sess *models.SessionWithUser, team string) string {
	if team == "" {
		return "Choose a team first."
	}
	if !teamSlugPattern.MatchString(team) {
		return "That is not a valid team."
	}
	for _, maxAge := range []time.Duration{5 * time.Minute, teamsFreshFor} {
		teams, err := s.userTeams(r, sess, maxAge)
		if err != nil {
			return "Could not check your Convex teams: " + convex.UserMessage(err)
		}
		for _, t := range teams.Teams {
			if t.Slug == team {
				return ""
			}
		}
	}
	return "Choose one of your Convex teams."
}
