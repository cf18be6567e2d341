package handlers

import (
	"context"
	"net/http"
	"time"

	"chefdeploy/models"
)

// TeamSource says where the teams a user connects apps to come from. The
// replica picks it once, with the Convex backend of its CONVEX_API mode.
type TeamSource int

const (
	// TeamsFromProvisionHost lists the teams the login's token sees at the
	// provision host (builder mode, CONTRACT §2.2).
	TeamsFromProvisionHost TeamSource = iota
	// TeamsFromGrants lists the teams the user authorized (platform mode,
	// CONTRACT §3.2); more are added by authorizing them.
	TeamsFromGrants
)

// teamList is the teams a user can pick from, and the one picked last.
type teamList struct {
	teams    []teamChoice
	selected string
	// authorize is true where the user adds teams by authorizing them here.
	authorize bool
}

// teamChoice is one team of a teamList; a revoked one must be authorized
// again before it is used.
type teamChoice struct {
	slug, name string
	revoked    bool
}

// find returns the team with slug.
func (l teamList) find(slug string) (teamChoice, bool) {
	for _, t := range l.teams {
		if t.slug == slug {
			return t, true
		}
	}
	return teamChoice{}, false
}

// teamDirectory lists a user's teams in one mode.
type teamDirectory interface {
	// list returns the user's teams, refreshed where they come from a remote
	// list older than maxAge.
	list(r *http.Request, sess *models.SessionWithUser, maxAge time.Duration) (teamList, error)
}

// newTeamDirectory is the directory of source.
func (s *Server) newTeamDirectory(source TeamSource) teamDirectory {
	if source == TeamsFromGrants {
		return grantTeams{s}
	}
	return hostTeams{s}
}

// grantTeams are the user's team grants: no call to Convex, which has none
// that lists a person's teams.
type grantTeams struct{ s *Server }

func (g grantTeams) list(r *http.Request, sess *models.SessionWithUser, _ time.Duration) (teamList, error) {
	l := teamList{authorize: true}
	grants, err := models.TeamGrantsOf(r.Context(), g.s.db, sess.UserID)
	if err != nil {
		return l, err
	}
	for _, gr := range grants {
		l.teams = append(l.teams, teamChoice{slug: gr.TeamSlug, name: gr.TeamSlug, revoked: gr.Revoked()})
	}
	if picked, err := models.TeamsOf(r.Context(), g.s.db, sess.UserID); err == nil {
		l.selected = picked.Selected
	}
	return l, nil
}

// hostTeams are the teams the provision host lists for the login's token,
// cached in the user's row.
type hostTeams struct{ s *Server }

func (h hostTeams) list(r *http.Request, sess *models.SessionWithUser, maxAge time.Duration) (teamList, error) {
	ut, err := h.s.userTeams(r, sess, maxAge)
	l := teamList{selected: ut.Selected}
	for _, t := range ut.Teams {
		l.teams = append(l.teams, teamChoice{slug: t.Slug, name: t.Name})
	}
	return l, err
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
