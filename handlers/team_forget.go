package handlers

import (
	"net/http"
	"strconv"

	"chefdeploy/models"
)

// teamForget deletes the user's grant for team {teamId} (CONTRACT §3.2).
// Anyone else's grant is the same 404 as a missing one. Apps already
// connected to the team keep their project and deploy keys.
func (s *Server) teamForget(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	teamID, err := strconv.ParseInt(r.PathValue("teamId"), 10, 64)
	if err != nil || teamID <= 0 {
		s.renderError(w, r, models.ErrNotFound)
		return
	}
	g, err := models.ForgetTeamGrant(r.Context(), s.db, sess.UserID, teamID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.log.Info("team forgotten", "request_id", RequestID(r.Context()), "user_id", sess.UserID, "team_id", g.TeamID, "team_slug", g.TeamSlug)
	back := localPath(r.PostFormValue("return"))
	if back == "" {
		back = "/settings"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
