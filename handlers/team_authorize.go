package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"chefdeploy/convex"
)

// teamAuthorize starts authorizing a Convex team (CONTRACT §3.2): a fresh
// state and PKCE verifier go into this browser's cookie, with where to come
// back to, then the browser goes to Convex's team consent, with the team
// preselected when `team` is a slug.
func (s *Server) teamAuthorize(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	p, err := s.startAuth(w, r, teamGrantFlow, sess.UserID, localPath(q.Get("return")))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(p.Verifier)}
	// The preselect is only a hint; anything but a slug is left out (a
	// slug is what a team token's prefix may hold).
	if team := q.Get("team"); team != "" && convex.TeamSlugFromToken("team:"+team+"|") == team {
		opts = append(opts, oauth2.SetAuthURLParam("team", team))
	}
	http.Redirect(w, r, s.teamOAuth.AuthCodeURL(p.State, opts...), http.StatusFound)
}

// maxReturnPath bounds a return path kept in the cookie.
const maxReturnPath = 512

// localPath is raw when it is a path on this site ("/apps/x?tab=y") and ""
// otherwise: a URL with a scheme or host, a protocol-relative "//host" or
// "/\host" (which browsers read as one), or anything that is no path.
func localPath(raw string) string {
	if len(raw) > maxReturnPath || !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") || strings.HasPrefix(raw, `/\`) {
		return ""
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return raw
}
