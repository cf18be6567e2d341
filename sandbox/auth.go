package sandbox

import (
	"net/http"
	"strings"
)

// credential returns what follows scheme in the Authorization header.
// Schemes compare case-insensitively, as HTTP says.
func credential(r *http.Request, scheme string) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) <= len(scheme)+1 || !strings.EqualFold(h[:len(scheme)], scheme) || h[len(scheme)] != ' ' {
		return "", false
	}
	v := strings.TrimSpace(h[len(scheme)+1:])
	return v, v != ""
}

// userFromBearer resolves the demo user whose access token the request
// carries: one from /oauth/token or one from /oidc/token.
func (s *Sandbox) userFromBearer(r *http.Request) (User, string, *apiError) {
	token, ok := credential(r, "Bearer")
	if !ok {
		return User{}, "", errUnauthenticated
	}
	h := hashSecret(token)
	s.mu.Lock()
	key, ok := s.st.Tokens[h]
	if !ok {
		// The OIDC provider's access tokens work here too, as the login's
		// token works on the real provision host (CONTRACT §2.2).
		var g oidcGrant
		g, ok = s.oidcAccessLocked(h)
		key = g.User
	}
	s.mu.Unlock()
	u, known := usersByKey[key]
	if !ok || !known {
		return User{}, "", errUnauthenticated
	}
	return u, token, nil
}

// memberTeam resolves a team of the user. A team the user is not in answers
// the same as one that does not exist.
func memberTeam(u User, slug string) (Team, *apiError) {
	t, ok := teamsBySlug[slug]
	if !ok || !u.isMember(slug) {
		return Team{}, errTeamNotFound
	}
	return t, nil
}

// deployKey is `project:{teamSlug}:{projectSlug}|{accessToken}`.
type deployKey struct {
	team, project, token string
}

func parseDeployKey(s string) (deployKey, bool) {
	prefix, token, ok := strings.Cut(s, "|")
	if !ok || token == "" {
		return deployKey{}, false
	}
	rest, ok := strings.CutPrefix(prefix, "project:")
	if !ok {
		return deployKey{}, false
	}
	team, slug, ok := strings.Cut(rest, ":")
	if !ok || team == "" || slug == "" {
		return deployKey{}, false
	}
	return deployKey{team: team, project: slug, token: token}, true
}

// projectForDeployKeyLocked finds the live project a deploy key opens: its
// team and slug must name the project and its token must be one authorize
// issued for it.
func (s *Sandbox) projectForDeployKeyLocked(key string) *project {
	k, ok := parseDeployKey(key)
	if !ok {
		return nil
	}
	h := hashSecret(k.token)
	for _, p := range s.st.Projects {
		if !p.live() || p.TeamSlug != k.team || p.Slug != k.project {
			continue
		}
		for _, t := range p.DeployTokenHashes {
			if secretEqual(t, h) {
				return p
			}
		}
	}
	return nil
}
