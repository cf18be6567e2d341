package sandbox

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// The team consent flow (CONTRACT §3.2): GET /oauth/authorize/team shows the
// demo users; picking one shows that user's teams; picking a team redirects
// to the application with a code, which POST /oauth/token exchanges into a
// team token for that one team.

// maxPreselectLength bounds the team query parameter; it is only a hint.
const maxPreselectLength = 64

// teamAuthorizeRequest is the query of GET /oauth/authorize/team: the login
// request's parameters plus the optional team to preselect.
type teamAuthorizeRequest struct {
	authorizeRequest
	Team string
}

func readTeamAuthorizeRequest(v url.Values) teamAuthorizeRequest {
	a := teamAuthorizeRequest{authorizeRequest: readAuthorizeRequest(v), Team: v.Get("team")}
	if len(a.Team) > maxPreselectLength {
		a.Team = "" // a hint too long to be a slug preselects nothing
	}
	return a
}

func (a teamAuthorizeRequest) fields() []formField {
	return append(a.authorizeRequest.fields(), formField{"team", a.Team})
}

// teamAuthorizePage shows the first step: pick a demo user or deny.
func (s *Sandbox) teamAuthorizePage(w http.ResponseWriter, r *http.Request) {
	a := readTeamAuthorizeRequest(r.URL.Query())
	if problem := s.validateAuthorize(a.authorizeRequest); problem != "" {
		s.renderPage(w, http.StatusBadRequest, errorPage("Invalid authorization request", problem))
		return
	}
	s.renderPage(w, http.StatusOK, teamUserPage(newTeamUserView(a)))
}

// teamAuthorizeDecision handles both steps of the consent form. With a user
// and no chosen team it shows that user's teams; with both it issues the
// code; "deny" at either step redirects with access_denied.
func (s *Sandbox) teamAuthorizeDecision(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.renderPage(w, http.StatusBadRequest, errorPage("Invalid authorization request", "The form could not be read."))
		return
	}
	a := readTeamAuthorizeRequest(r.PostForm)
	if problem := s.validateAuthorize(a.authorizeRequest); problem != "" {
		s.renderPage(w, http.StatusBadRequest, errorPage("Invalid authorization request", problem))
		return
	}
	if r.PostForm.Get("action") == "deny" {
		http.Redirect(w, r, callbackURL(a.RedirectURI, url.Values{
			"error":             {"access_denied"},
			"error_description": {"The user denied access to their Convex team."},
		}, a.State), http.StatusFound)
		return
	}
	u, ok := usersByKey[r.PostForm.Get("user")]
	if !ok {
		s.renderPage(w, http.StatusBadRequest, errorPage("Invalid authorization request", "Pick one of the listed users."))
		return
	}
	if r.PostForm.Get("action") != "authorize" {
		s.renderPage(w, http.StatusOK, teamPickPage(newTeamPickView(a, u)))
		return
	}
	chosen := r.PostForm.Get("grant_team")
	if !u.isMember(chosen) {
		s.renderPage(w, http.StatusBadRequest, errorPage("Invalid authorization request", "Pick one of "+u.Name+"'s teams."))
		return
	}
	code := s.issueCode(&authCode{
		clientID:    a.ClientID,
		redirectURI: a.RedirectURI,
		challenge:   a.CodeChallenge,
		userKey:     u.Key,
		teamSlug:    chosen,
	})
	http.Redirect(w, r, callbackURL(a.RedirectURI, url.Values{"code": {code}}, a.State), http.StatusFound)
}

// redirectRegistered reports whether uri is exactly one of the client's
// registered callbacks.
func (s *Sandbox) redirectRegistered(clientID, uri string) bool {
	if uri == "" {
		return false
	}
	return uri == s.opts.RedirectURIs[clientID] || slices.Contains(s.opts.OtherRedirectURIs[clientID], uri)
}

// issueCode stores c under a new code and returns the code, forgetting
// codes older than codeMemory.
func (s *Sandbox) issueCode(c *authCode) string {
	code := newSecret("sbxc_")
	c.issued = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, old := range s.codes {
		if c.issued.Sub(old.issued) > codeMemory {
			delete(s.codes, k)
		}
	}
	s.codes[hashSecret(code)] = c
	return code
}

// IssueTeamToken mints a team token for a demo user's team without the
// browser flow, exactly as the token endpoint would after the team consent.
func (s *Sandbox) IssueTeamToken(userKey, teamSlug string) (string, error) {
	u, ok := usersByKey[userKey]
	if !ok {
		return "", fmt.Errorf("sandbox: no demo user %q", userKey)
	}
	if !u.isMember(teamSlug) {
		return "", fmt.Errorf("sandbox: %s is not in team %q", userKey, teamSlug)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueTeamTokenLocked(u, teamsBySlug[teamSlug], "sandbox")
}

// issueTeamTokenLocked mints a team token in the real service's shape,
// "team:{teamSlug}|…". name is what token_details reports: the application
// the person authorized.
func (s *Sandbox) issueTeamTokenLocked(u User, team Team, name string) (string, error) {
	token := "team:" + team.Slug + "|" + newSecret("sbxt_")
	h := hashSecret(token)
	s.st.TeamTokens[h] = &teamToken{
		ID:         s.st.NextTokenID,
		TeamSlug:   team.Slug,
		UserKey:    u.Key,
		Name:       name,
		CreateTime: time.Now().UnixMilli(),
	}
	s.st.NextTokenID++
	if err := s.saveLocked(); err != nil {
		delete(s.st.TeamTokens, h)
		s.st.NextTokenID--
		return "", err
	}
	return token, nil
}

// RevokeToken revokes an access token, a login token or a team token, as a
// person removing the application in the Convex dashboard would. Every
// later call with it answers 401. It reports whether the token was live.
func (s *Sandbox) RevokeToken(token string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.revokeTokenHashLocked(hashSecret(token)) {
		return false, nil
	}
	return true, s.saveLocked()
}

// revokeTokenHashLocked forgets a token of either kind; the caller saves.
func (s *Sandbox) revokeTokenHashLocked(h string) bool {
	_, login := s.st.Tokens[h]
	_, team := s.st.TeamTokens[h]
	delete(s.st.Tokens, h)
	delete(s.st.TeamTokens, h)
	return login || team
}

// teamUserView is the first step of the team consent page.
type teamUserView struct {
	ClientID string
	Fields   []formField
	Users    []userChoice
}

func newTeamUserView(a teamAuthorizeRequest) teamUserView {
	base := newAuthorizeView(a.ClientID, a.fields(), "")
	return teamUserView{ClientID: a.ClientID, Fields: a.fields(), Users: base.Users}
}

// teamChoice is one team on the second step.
type teamChoice struct {
	Slug    string
	Name    string
	Checked bool
}

// TestID is the data-testid of the team's radio button.
func (t teamChoice) TestID() string { return "sandbox-team-" + t.Slug }

// teamPickView is the second step: one of the user's teams.
type teamPickView struct {
	ClientID string
	UserName string
	Fields   []formField
	Teams    []teamChoice
}

// newTeamPickView checks the preselected team when the user is in it, and
// the user's first team otherwise.
func newTeamPickView(a teamAuthorizeRequest, u User) teamPickView {
	v := teamPickView{
		ClientID: a.ClientID,
		UserName: u.Name,
		Fields:   append(a.fields(), formField{"user", u.Key}),
	}
	preselect := u.Teams[0]
	if slices.Contains(u.Teams, a.Team) {
		preselect = a.Team
	}
	for _, slug := range u.Teams {
		t := teamsBySlug[slug]
		v.Teams = append(v.Teams, teamChoice{Slug: t.Slug, Name: t.Name, Checked: slug == preselect})
	}
	return v
}
