package handlers

import (
	"context"
	"net/http"
	"time"

	"chefdeploy/models"
)

// supportOnly is the one place the support role is enforced: signed-out
// visitors go to the login, signed-in users without the role get 403.
func (s *Server) supportOnly(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.requireUser(w, r)
		if !ok {
			return
		}
		isSupport, err := s.hasSupportRole(r, sess)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		if !isSupport {
			s.renderError(w, r, models.Errorf(models.EFORBIDDEN, "This page is for support staff."))
			return
		}
		next(w, r)
	})
}

// hasSupportRole decides the role: a CLI grant, SUPPORT_OIDC_GROUP in the
// latest login's groups claim, or membership of the support team,
// re-checked with the provision host once the last check is stale.
func (s *Server) hasSupportRole(r *http.Request, sess *models.SessionWithUser) (bool, error) {
	st, err := models.SupportStatusOf(r.Context(), s.db, sess.UserID)
	if err != nil {
		return false, err
	}
	if st.Granted || st.GroupMember {
		return true, nil
	}
	if s.cfg.SupportTeamSlug == "" {
		return false, nil
	}
	if st.CheckedAt.Valid && time.Since(st.CheckedAt.Time) < models.SupportTeamRecheck {
		return st.TeamMember, nil
	}
	member, err := s.checkSupportTeam(r.Context(), sess.UserID, func() (string, error) { return s.convexToken(r, sess) })
	if err != nil {
		// The provision host cannot say: fail closed.
		s.log.Warn("support team re-check failed", "request_id", RequestID(r.Context()), "err", err)
		return false, nil
	}
	return member, nil
}

// checkSupportTeam asks the provision host whether the user is in the
// support team and records the answer.
func (s *Server) checkSupportTeam(ctx context.Context, userID string, token func() (string, error)) (bool, error) {
	t, err := token()
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	teams, err := s.convex.Teams(ctx, t)
	if err != nil {
		return false, err
	}
	member := false
	for _, team := range teams {
		if team.Slug == s.cfg.SupportTeamSlug {
			member = true
		}
	}
	if err := models.SetSupportTeamMember(ctx, s.db, userID, member, s.cfg.SupportTeamSlug); err != nil {
		return false, err
	}
	return member, nil
}
