package sandbox_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"chefdeploy/sandbox"
)

// teamConfig is the product's OAuth client for team grants (CONTRACT §3.2).
func (f *fixture) teamConfig() *oauth2.Config {
	return &oauth2.Config{
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		RedirectURL:  testRedirectURI,
		Endpoint: oauth2.Endpoint{
			AuthURL:   f.base + "/oauth/authorize/team",
			TokenURL:  f.base + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// teamForm is a form of the team consent page, as a browser sees it.
type teamForm struct {
	action  string
	fields  url.Values // hidden inputs
	teams   []string   // values of the grant_team radios, in order
	checked string     // the radio checked by default
	testIDs []string   // data-testid of the buttons and radios
}

// readTeamForm reads the page an answer carries; it must be a 200 page.
func readTeamForm(t *testing.T, resp *http.Response) teamForm {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("consent page: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("the consent page can be framed")
	}
	doc, err := html.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	form := teamForm{fields: url.Values{}}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		attr := map[string]string{}
		for _, a := range n.Attr {
			attr[a.Key] = a.Val
		}
		switch {
		case n.Data == "form":
			action, err := resp.Request.URL.Parse(attr["action"])
			if err != nil {
				t.Fatal(err)
			}
			form.action = action.String()
		case n.Data == "input" && attr["type"] == "hidden":
			form.fields.Set(attr["name"], attr["value"])
		case n.Data == "input" && attr["type"] == "radio" && attr["name"] == "grant_team":
			form.teams = append(form.teams, attr["value"])
			form.testIDs = append(form.testIDs, attr["data-testid"])
			if _, ok := attr["checked"]; ok {
				if form.checked != "" {
					t.Errorf("two teams checked: %s and %s", form.checked, attr["value"])
				}
				form.checked = attr["value"]
			}
		case n.Data == "button":
			form.testIDs = append(form.testIDs, attr["data-testid"])
		case n.Data == "style", n.Data == "script":
			t.Errorf("the page has an inline <%s>, which the product's CSP forbids", n.Data)
		}
	}
	return form
}

// post sends the form with extra values as a same-origin browser would.
func (form teamForm) post(t *testing.T, extra url.Values) *http.Response {
	t.Helper()
	values := url.Values{}
	for k, v := range form.fields {
		values[k] = v
	}
	for k, v := range extra {
		values[k] = v
	}
	resp, err := noRedirects.PostForm(form.action, values)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// redirect checks a 302 and returns where it goes.
func redirect(t *testing.T, resp *http.Response) *url.URL {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("consent: %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirectURI {
		t.Fatalf("redirected to %s", loc)
	}
	return loc
}

// openTeamConsent loads the first step and picks user, returning the
// second step's form.
func (f *fixture) openTeamConsent(t *testing.T, authURL, user string) teamForm {
	t.Helper()
	resp, err := noRedirects.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	first := readTeamForm(t, resp)
	return readTeamForm(t, first.post(t, url.Values{"user": {user}}))
}

// teamGrant runs the whole team consent for user, authorizing team, and
// exchanges the code like the product does.
func (f *fixture) teamGrant(t *testing.T, user, team string) string {
	t.Helper()
	conf := f.teamConfig()
	verifier := oauth2.GenerateVerifier()
	form := f.openTeamConsent(t, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), user)
	loc := redirect(t, form.post(t, url.Values{"action": {"authorize"}, "grant_team": {team}}))
	tok, err := conf.Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

type tokenDetails struct {
	Type       string `json:"type"`
	ID         int64  `json:"id"`
	TeamID     int64  `json:"teamId"`
	Name       string `json:"name"`
	CreateTime int64  `json:"createTime"`
}

func TestTeamConsentWithPKCE(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	tests := []struct {
		name        string
		user        string
		preselect   string // the team query parameter
		wantChecked string
		choose      string // "" keeps the checked one
	}{
		{"first team by default", sandbox.UserAda, "", sandbox.TeamAcme, ""},
		{"preselected team", sandbox.UserAda, sandbox.TeamFlaky, sandbox.TeamFlaky, ""},
		{"another team than the preselected", sandbox.UserAda, sandbox.TeamFlaky, sandbox.TeamFlaky, sandbox.TeamNearlyFull},
		{"preselect of a team the user is not in", sandbox.UserGrace, sandbox.TeamAcme, sandbox.TeamHopperLabs, ""},
		{"second team", sandbox.UserSam, "", sandbox.TeamChefSupport, sandbox.TeamSamSandbox},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conf := f.teamConfig()
			verifier := oauth2.GenerateVerifier()
			opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
			if tt.preselect != "" {
				opts = append(opts, oauth2.SetAuthURLParam("team", tt.preselect))
			}
			authURL := conf.AuthCodeURL("state-"+tt.user, opts...)

			resp, err := noRedirects.Get(authURL)
			if err != nil {
				t.Fatal(err)
			}
			first := readTeamForm(t, resp)
			for _, id := range []string{"sandbox-user-ada", "sandbox-user-grace", "sandbox-user-sam", "sandbox-deny"} {
				if !strings.Contains(strings.Join(first.testIDs, " "), id) {
					t.Errorf("no button %s among %v", id, first.testIDs)
				}
			}
			second := readTeamForm(t, first.post(t, url.Values{"user": {tt.user}}))
			var user sandbox.User
			for _, u := range sandbox.DemoUsers() {
				if u.Key == tt.user {
					user = u
				}
			}
			if strings.Join(second.teams, ",") != strings.Join(user.Teams, ",") {
				t.Errorf("teams %v, want %v", second.teams, user.Teams)
			}
			if second.checked != tt.wantChecked {
				t.Errorf("checked %q, want %q", second.checked, tt.wantChecked)
			}
			chosen := cmpOr(tt.choose, second.checked)
			loc := redirect(t, second.post(t, url.Values{"action": {"authorize"}, "grant_team": {chosen}}))
			if got := loc.Query().Get("state"); got != "state-"+tt.user {
				t.Errorf("state %q", got)
			}

			tok, err := conf.Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tok.AccessToken, "team:"+chosen+"|") {
				t.Errorf("access token %q, want prefix team:%s|", tok.AccessToken, chosen)
			}
			if tok.RefreshToken != "" || !tok.Expiry.IsZero() || !strings.EqualFold(tok.TokenType, "bearer") {
				t.Errorf("token %+v, want a bearer token without expiry or refresh", tok)
			}
			var d tokenDetails
			f.api(t, "GET", "/v1/token_details", tok.AccessToken, nil).decode(t, &d)
			team, _ := sandbox.DemoTeam(chosen)
			if d.Type != "teamToken" || d.TeamID != team.ID || d.ID <= 0 || d.Name != testClientID || d.CreateTime <= 0 {
				t.Errorf("token_details %+v, want a teamToken of team %d", d, team.ID)
			}
			// A team token is no login: the provision host does not take it.
			if rp := f.api(t, "GET", "/api/dashboard/profile", tok.AccessToken, nil); rp.status != http.StatusUnauthorized {
				t.Errorf("profile with a team token: %d, want 401", rp.status)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestTeamConsentCancel(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	authURL := f.teamConfig().AuthCodeURL("st-cancel", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	tests := []struct {
		name string
		form func(t *testing.T) teamForm
	}{
		{"on the user step", func(t *testing.T) teamForm {
			resp, err := noRedirects.Get(authURL)
			if err != nil {
				t.Fatal(err)
			}
			return readTeamForm(t, resp)
		}},
		{"on the team step", func(t *testing.T) teamForm { return f.openTeamConsent(t, authURL, sandbox.UserAda) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			loc := redirect(t, tt.form(t).post(t, url.Values{"action": {"deny"}}))
			q := loc.Query()
			if q.Get("error") != "access_denied" || q.Get("error_description") == "" || q.Get("state") != "st-cancel" || q.Has("code") {
				t.Errorf("cancel redirected to %s", loc)
			}
		})
	}
}

func TestTeamConsentRefusesBadRequests(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	valid := url.Values{
		"client_id":             {testClientID},
		"redirect_uri":          {testRedirectURI},
		"response_type":         {"code"},
		"state":                 {"s"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"},
	}
	form := func(set map[string]string) url.Values {
		v := url.Values{}
		for k, vs := range valid {
			v[k] = vs
		}
		for k, s := range set {
			v.Set(k, s)
		}
		return v
	}
	tests := []struct {
		name   string
		method string
		values url.Values
		header http.Header
		status int
		want   string // on the page
	}{
		{"foreign redirect", "GET", form(map[string]string{"redirect_uri": "https://evil.example/cb"}), nil, 400, "not the one registered"},
		{"unknown client", "GET", form(map[string]string{"client_id": "other"}), nil, 400, "not registered"},
		{"no PKCE", "GET", form(map[string]string{"code_challenge_method": "", "code_challenge": ""}), nil, 400, "S256"},
		{"plain PKCE", "GET", form(map[string]string{"code_challenge_method": "plain"}), nil, 400, "S256"},
		{"token flow", "GET", form(map[string]string{"response_type": "token"}), nil, 400, "response_type"},
		{"foreign redirect posted", "POST", form(map[string]string{"redirect_uri": "https://evil.example/cb", "user": "ada", "action": "authorize", "grant_team": "acme"}), nil, 400, "not the one registered"},
		{"unknown user", "POST", form(map[string]string{"user": "mallory"}), nil, 400, "Pick one of the listed users"},
		{"a team the user is not in", "POST", form(map[string]string{"user": "ada", "action": "authorize", "grant_team": sandbox.TeamHopperLabs}), nil, 400, "Pick one of Ada Lovelace"},
		{"no team", "POST", form(map[string]string{"user": "ada", "action": "authorize"}), nil, 400, "Pick one of Ada Lovelace"},
		{"cross-site post", "POST", form(map[string]string{"user": "ada", "action": "authorize", "grant_team": "acme"}), http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403, "Cross-origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var rp reply
			if tt.method == "GET" {
				rp = f.send(t, "GET", "/oauth/authorize/team?"+tt.values.Encode(), nil, nil)
			} else {
				h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
				for k, v := range tt.header {
					h[k] = v
				}
				rp = f.send(t, "POST", "/oauth/authorize/team", h, strings.NewReader(tt.values.Encode()))
			}
			if rp.status != tt.status || rp.header.Get("Location") != "" {
				t.Fatalf("%d Location %q, want %d without redirect", rp.status, rp.header.Get("Location"), tt.status)
			}
			if !strings.HasPrefix(rp.header.Get("Content-Type"), "text/html") || !strings.Contains(string(rp.body), tt.want) {
				t.Errorf("page does not say %q: %s", tt.want, rp.body)
			}
		})
	}
}

func TestTeamConsentPageEscapes(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{Clients: map[string]string{`<b>evil</b>`: "x"}})
	q := url.Values{
		"client_id": {`<b>evil</b>`}, "redirect_uri": {testRedirectURI}, "response_type": {"code"},
		"state": {`"><script>alert(1)</script>`}, "code_challenge_method": {"S256"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"team":           {`"><script>alert(2)</script>`},
	}
	rp := f.send(t, "GET", "/oauth/authorize/team?"+q.Encode(), nil, nil)
	q.Set("user", sandbox.UserAda)
	second := f.send(t, "POST", "/oauth/authorize/team", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, strings.NewReader(q.Encode()))
	for _, page := range []reply{rp, second} {
		if page.status != http.StatusOK {
			t.Fatalf("%d %s", page.status, page.body)
		}
		if strings.Contains(string(page.body), "<script>") || strings.Contains(string(page.body), "<b>evil") {
			t.Errorf("unescaped input in the page: %s", page.body)
		}
	}
}

func TestTeamCodeExchange(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	tests := []struct {
		name     string
		verifier func(good string) string
		secret   string
		status   int
		code     string
	}{
		{"wrong verifier", func(string) string { return oauth2.GenerateVerifier() }, testClientSecret, 400, "invalid_grant"},
		{"no verifier", func(string) string { return "" }, testClientSecret, 400, "invalid_grant"},
		{"wrong secret", func(g string) string { return g }, "wrong", 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conf := f.teamConfig()
			conf.ClientSecret = tt.secret
			verifier := oauth2.GenerateVerifier()
			form := f.openTeamConsent(t, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), sandbox.UserAda)
			loc := redirect(t, form.post(t, url.Values{"action": {"authorize"}, "grant_team": {sandbox.TeamAcme}}))
			var opts []oauth2.AuthCodeOption
			if v := tt.verifier(verifier); v != "" {
				opts = append(opts, oauth2.VerifierOption(v))
			}
			_, err := conf.Exchange(t.Context(), loc.Query().Get("code"), opts...)
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a RetrieveError", err)
			}
			if re.Response.StatusCode != tt.status || re.ErrorCode != tt.code {
				t.Errorf("%d %q, want %d %q", re.Response.StatusCode, re.ErrorCode, tt.status, tt.code)
			}
		})
	}
}

// TestTeamCodeReplayRevokesToken: a replayed code leaked, so the team
// token it gave stops working everywhere (RFC 6749 §4.1.2).
func TestTeamCodeReplayRevokesToken(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	conf := f.teamConfig()
	verifier := oauth2.GenerateVerifier()
	form := f.openTeamConsent(t, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), sandbox.UserGrace)
	code := redirect(t, form.post(t, url.Values{"action": {"authorize"}, "grant_team": {sandbox.TeamHopperLabs}})).Query().Get("code")
	tok, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if rp := f.api(t, "GET", "/v1/token_details", tok.AccessToken, nil); rp.status != http.StatusOK {
		t.Fatalf("token_details before replay: %d", rp.status)
	}
	_, err = conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("replay: %v, want invalid_grant", err)
	}
	rp := f.api(t, "GET", "/v1/token_details", tok.AccessToken, nil)
	if rp.status != http.StatusUnauthorized || rp.code(t) != "Unauthenticated" {
		t.Errorf("token_details after replay: %d %s, want 401 Unauthenticated", rp.status, rp.body)
	}
}

func TestIssueAndRevokeTeamToken(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	if _, err := f.sb.IssueTeamToken(sandbox.UserGrace, sandbox.TeamAcme); err == nil {
		t.Errorf("IssueTeamToken for a team the user is not in worked")
	}
	if _, err := f.sb.IssueTeamToken("nobody", sandbox.TeamAcme); err == nil {
		t.Errorf("IssueTeamToken for an unknown user worked")
	}
	token, err := f.sb.IssueTeamToken(sandbox.UserAda, sandbox.TeamAcme)
	if err != nil {
		t.Fatal(err)
	}
	if rp := f.api(t, "GET", "/v1/token_details", token, nil); rp.status != http.StatusOK {
		t.Fatalf("token_details: %d %s", rp.status, rp.body)
	}
	other, err := f.sb.IssueTeamToken(sandbox.UserAda, sandbox.TeamAcme)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := f.sb.RevokeToken(token)
	if err != nil || !revoked {
		t.Fatalf("RevokeToken = %v, %v; want true", revoked, err)
	}
	rp := f.api(t, "GET", "/v1/token_details", token, nil)
	if rp.status != http.StatusUnauthorized || rp.code(t) != "Unauthenticated" {
		t.Errorf("after revoke: %d %s, want 401 Unauthenticated", rp.status, rp.body)
	}
	// Another grant of the same team is its own token and still works.
	if rp := f.api(t, "GET", "/v1/token_details", other, nil); rp.status != http.StatusOK {
		t.Errorf("the other grant after revoke: %d", rp.status)
	}
	if revoked, err := f.sb.RevokeToken(token); err != nil || revoked {
		t.Errorf("second RevokeToken = %v, %v; want false", revoked, err)
	}
	// Login tokens are revoked the same way.
	login := f.login(t, sandbox.UserAda)
	if revoked, err := f.sb.RevokeToken(login); err != nil || !revoked {
		t.Fatalf("RevokeToken(login) = %v, %v", revoked, err)
	}
	if rp := f.api(t, "GET", "/api/dashboard/profile", login, nil); rp.status != http.StatusUnauthorized {
		t.Errorf("profile after revoke: %d", rp.status)
	}
}

func TestTeamTokensSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	before := setup(t, sandbox.Options{StateDir: dir})
	token := before.teamGrant(t, sandbox.UserAda, sandbox.TeamAcme)
	var d1 tokenDetails
	before.api(t, "GET", "/v1/token_details", token, nil).decode(t, &d1)
	after := setup(t, sandbox.Options{StateDir: dir})
	var d2 tokenDetails
	after.api(t, "GET", "/v1/token_details", token, nil).decode(t, &d2)
	if d1 != d2 {
		t.Errorf("token_details %+v after restart, was %+v", d2, d1)
	}
	// Ids are never reused after a restart.
	next, err := after.sb.IssueTeamToken(sandbox.UserAda, sandbox.TeamAcme)
	if err != nil {
		t.Fatal(err)
	}
	var d3 tokenDetails
	after.api(t, "GET", "/v1/token_details", next, nil).decode(t, &d3)
	if d3.ID <= d1.ID {
		t.Errorf("new token id %d, not after %d", d3.ID, d1.ID)
	}
}

// TestTeamConsentOnASecondCallback: the product registers
// {BASE_URL}/teams/callback next to its login callback, and the consent
// redirects to either, but to nothing else.
func TestTeamConsentOnASecondCallback(t *testing.T) {
	t.Parallel()
	const teamsCallback = "http://app.example.test/teams/callback"
	f := setup(t, sandbox.Options{
		Clients:           map[string]string{testClientID: testClientSecret},
		RedirectURIs:      map[string]string{testClientID: testRedirectURI},
		OtherRedirectURIs: map[string][]string{testClientID: {teamsCallback}},
	})
	conf := f.teamConfig()
	conf.RedirectURL = teamsCallback
	verifier := oauth2.GenerateVerifier()
	form := f.openTeamConsent(t, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), sandbox.UserAda)
	resp := form.post(t, url.Values{"action": {"authorize"}, "grant_team": {sandbox.TeamAcme}})
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || loc.Scheme+"://"+loc.Host+loc.Path != teamsCallback {
		t.Fatalf("consent: %d to %q (%v)", resp.StatusCode, resp.Header.Get("Location"), err)
	}
	tok, err := conf.Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.AccessToken, "team:acme|") {
		t.Errorf("token %q", tok.AccessToken)
	}
	conf.RedirectURL = "http://app.example.test/teams/other"
	rp := f.send(t, "GET", strings.TrimPrefix(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), f.base), nil, nil)
	if rp.status != http.StatusBadRequest || !strings.Contains(string(rp.body), "not the one registered") {
		t.Errorf("unregistered callback: %d %s", rp.status, rp.body)
	}
}
