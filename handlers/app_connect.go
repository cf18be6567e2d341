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
	if bad := s.checkTeam(r, sess, app.ID, team); bad != nil {
		st, err := s.statuses.Get(r.Context(), app.ID)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		v := s.statusView(st)
		if !v.CanConnect() && v.State != models.StateConnected {
			v.State = models.StateNone
		}
		v.FormError, v.FormAction = bad.msg, bad.action
		s.render(w, r, bad.status, app.Name, views.StatusFragment(v))
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

// teamProblem is why a connect cannot use the team it asked for: the
// status, the sentence, and the action that fixes it, if any.
type teamProblem struct {
	status int
	msg    string
	action *views.Link
}

// checkTeam says what is wrong with the chosen team, nil when the user can
// connect to it. The cached list is refreshed when the team is not in it,
// but not more often than teamsFreshFor: a miss is cached too, so connects
// to a team the user lacks do not each list the teams at Convex. A team
// that needs authorizing (none, or a revoked grant) answers 400 with the
// link that authorizes it and comes back to the app (CONTRACT §5).
func (s *Server) checkTeam(r *http.Request, sess *models.SessionWithUser, appID, team string) *teamProblem {
	invalid := func(msg string) *teamProblem { return &teamProblem{status: http.StatusUnprocessableEntity, msg: msg} }
	if team == "" {
		return invalid("Choose a team first.")
	}
	if !teamSlugPattern.MatchString(team) {
		return invalid("That is not a valid team.")
	}
	var teams teamList
	for _, maxAge := range []time.Duration{5 * time.Minute, teamsFreshFor} {
		var err error
		if teams, err = s.teams.list(r, sess, maxAge); err != nil {
			return invalid("Could not check your Convex teams: " + convex.UserMessage(err))
		}
		if t, ok := teams.find(team); ok && !t.revoked {
			return nil
		} else if ok {
			return &teamProblem{status: http.StatusBadRequest, msg: jobs.MsgAuthorizeAgain(team),
				action: &views.Link{URL: authorizeTeamURL(team, "/apps/"+appID), Text: "Authorize " + team + " again"}}
		}
	}
	if teams.authorize {
		return &teamProblem{status: http.StatusBadRequest, msg: jobs.MsgNoGrant(team),
			action: &views.Link{URL: authorizeTeamURL(team, "/apps/"+appID), Text: "Authorize " + team}}
	}
	return invalid("Choose one of your Convex teams.")
}
