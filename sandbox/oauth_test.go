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

func (f *fixture) oauthConfig(secret string, style oauth2.AuthStyle) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     testClientID,
		ClientSecret: secret,
		RedirectURL:  testRedirectURI,
		Endpoint: oauth2.Endpoint{
			AuthURL:   f.base + "/oauth/authorize",
			TokenURL:  f.base + "/oauth/token",
			AuthStyle: style,
		},
	}
}

// consentForm is the form of the authorize page, as a browser sees it.
type consentForm struct {
	action string
	fields url.Values
	// testIDs are the data-testid of the buttons.
	testIDs []string
}

// openConsent loads the authorize page and reads its form.
func (f *fixture) openConsent(t *testing.T, authURL string) consentForm {
	t.Helper()
	resp, err := noRedirects.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authorize page: %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("authorize page Content-Type %q", ct)
	}
	doc, err := html.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	form := consentForm{fields: url.Values{}}
	var title string
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		attr := map[string]string{}
		for _, a := range n.Attr {
			attr[a.Key] = a.Val
		}
		switch n.Data {
		case "h1":
			if n.FirstChild != nil {
				title = n.FirstChild.Data
			}
		case "form":
			action, err := resp.Request.URL.Parse(attr["action"])
			if err != nil {
				t.Fatal(err)
			}
			form.action = action.String()
		case "input":
			if attr["type"] == "hidden" {
				form.fields.Set(attr["name"], attr["value"])
			}
		case "button":
			form.testIDs = append(form.testIDs, attr["data-testid"])
		case "link":
			if attr["rel"] == "stylesheet" && attr["href"] != "/static/app.css" {
				t.Errorf("stylesheet %q, want /static/app.css", attr["href"])
			}
		case "style", "script":
			t.Errorf("the page has an inline <%s>, which the product's CSP forbids", n.Data)
		}
	}
	if title != "Sign in to the Convex sandbox" {
		t.Errorf("title %q", title)
	}
	return form
}

// submit posts the consent form with one button pressed and returns where
// the sandbox redirects.
func (f *fixture) submit(t *testing.T, form consentForm, button url.Values) *url.URL {
	t.Helper()
	values := url.Values{}
	for k, v := range form.fields {
		values[k] = v
	}
	for k, v := range button {
		values[k] = v
	}
	resp, err := noRedirects.PostForm(form.action, values)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("consent: %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// authCode runs the browser half of the login for user and returns the code.
func (f *fixture) authCode(t *testing.T, user, verifier string) string {
	t.Helper()
	authURL := f.oauthConfig(testClientSecret, oauth2.AuthStyleInParams).AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier))
	loc := f.submit(t, f.openConsent(t, authURL), url.Values{"user": {user}})
	if got := loc.Query().Get("state"); got != "st-1" {
		t.Fatalf("state %q, want st-1", got)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", loc)
	}
	return code
}

func TestOAuthLoginWithPKCE(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	tests := []struct {
		user, tokenPrefix, email string
	}{
		{sandbox.UserAda, "team:acme|sbx_", "ada@example.com"},
		{sandbox.UserGrace, "team:hopper-labs|sbx_", "grace@example.com"},
		{sandbox.UserSam, "team:chef-support|sbx_", "sam@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			t.Parallel()
			conf := f.oauthConfig(testClientSecret, oauth2.AuthStyleInParams)
			verifier := oauth2.GenerateVerifier()
			authURL := conf.AuthCodeURL("state-"+tt.user, oauth2.S256ChallengeOption(verifier))

			form := f.openConsent(t, authURL)
			for _, id := range []string{"sandbox-user-ada", "sandbox-user-grace", "sandbox-user-sam", "sandbox-deny"} {
				if !strings.Contains(strings.Join(form.testIDs, " "), id) {
					t.Errorf("no button %s among %v", id, form.testIDs)
				}
			}
			loc := f.submit(t, form, url.Values{"user": {tt.user}})
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirectURI {
				t.Fatalf("redirected to %s", loc)
			}
			if got := loc.Query().Get("state"); got != "state-"+tt.user {
				t.Errorf("state %q", got)
			}

			tok, err := conf.Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tok.AccessToken, tt.tokenPrefix) {
				t.Errorf("access token %q, want prefix %q", tok.AccessToken, tt.tokenPrefix)
			}
			if tok.RefreshToken != "" || !strings.EqualFold(tok.TokenType, "bearer") {
				t.Errorf("token %+v", tok)
			}
			var p struct{ Email string }
			f.api(t, "GET", "/api/dashboard/profile", tok.AccessToken, nil).decode(t, &p)
			if p.Email != tt.email {
				t.Errorf("profile email %q, want %q", p.Email, tt.email)
			}
		})
	}
}

func TestOAuthAuthorizeRejectsBadRequests(t *testing.T) {
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
	tests := []struct {
		name, param, value, want string
	}{
		{"unknown client", "client_id", "someone-else", "not registered"},
		{"no client", "client_id", "", "no client_id"},
		{"relative redirect", "redirect_uri", "/auth/callback", "absolute"},
		{"javascript redirect", "redirect_uri", "javascript:alert(1)", "absolute"},
		{"redirect with fragment", "redirect_uri", testRedirectURI + "#x", "fragment"},
		// Only the redirect_uri registered with the client: anything else
		// would make the sandbox an open redirect that carries codes away.
		{"foreign redirect", "redirect_uri", "https://evil.example/auth/callback", "not the one registered"},
		{"other path on the client's host", "redirect_uri", "http://app.example.test/steal", "not the one registered"},
		{"registered one with a query", "redirect_uri", testRedirectURI + "?next=https://evil.example", "not the one registered"},
		{"token flow", "response_type", "token", "response_type"},
		{"plain PKCE", "code_challenge_method", "plain", "S256"},
		{"no PKCE method", "code_challenge_method", "", "S256"},
		{"no challenge", "code_challenge", "", "code_challenge"},
		{"short challenge", "code_challenge", "abc", "code_challenge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := url.Values{}
			for k, v := range valid {
				q[k] = v
			}
			q.Set(tt.param, tt.value)
			for _, method := range []string{"GET", "POST"} {
				var rp reply
				if method == "GET" {
					rp = f.send(t, "GET", "/oauth/authorize?"+q.Encode(), nil, nil)
				} else {
					q.Set("user", sandbox.UserAda)
					rp = f.send(t, "POST", "/oauth/authorize", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, strings.NewReader(q.Encode()))
				}
				if rp.status != http.StatusBadRequest || rp.header.Get("Location") != "" {
					t.Fatalf("%s: %d Location %q, want 400 without redirect", method, rp.status, rp.header.Get("Location"))
				}
				if !strings.HasPrefix(rp.header.Get("Content-Type"), "text/html") || !strings.Contains(string(rp.body), tt.want) {
					t.Errorf("%s: page does not say %q: %s", method, tt.want, rp.body)
				}
			}
		})
	}
}

func TestOAuthConsentPageEscapes(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{Clients: map[string]string{`<b>evil</b>`: "x"}})
	q := url.Values{
		"client_id": {`<b>evil</b>`}, "redirect_uri": {testRedirectURI}, "response_type": {"code"},
		"state": {`"><script>alert(1)</script>`}, "code_challenge_method": {"S256"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
	}
	rp := f.send(t, "GET", "/oauth/authorize?"+q.Encode(), nil, nil)
	if rp.status != http.StatusOK {
		t.Fatalf("%d %s", rp.status, rp.body)
	}
	if strings.Contains(string(rp.body), "<script>") || strings.Contains(string(rp.body), "<b>evil") {
		t.Errorf("unescaped input in the page: %s", rp.body)
	}
}

func TestOAuthDeny(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	authURL := f.oauthConfig(testClientSecret, oauth2.AuthStyleInParams).AuthCodeURL("st-deny", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	loc := f.submit(t, f.openConsent(t, authURL), url.Values{"action": {"deny"}})
	q := loc.Query()
	if q.Get("error") != "access_denied" || q.Get("error_description") == "" || q.Get("state") != "st-deny" || q.Has("code") {
		t.Errorf("deny redirected to %s", loc)
	}
}

func TestOAuthConsentRefusesUnknownUserAndCrossOrigin(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	authURL := f.oauthConfig(testClientSecret, oauth2.AuthStyleInParams).AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	form := f.openConsent(t, authURL)
	tests := []struct {
		name   string
		user   string
		header http.Header
		want   int
	}{
		{"unknown user", "mallory", nil, http.StatusBadRequest},
		{"cross-site post", sandbox.UserAda, http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			values := url.Values{"user": {tt.user}}
			for k, v := range form.fields {
				values[k] = v
			}
			h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
			for k, v := range tt.header {
				h[k] = v
			}
			rp := f.send(t, "POST", "/oauth/authorize", h, strings.NewReader(values.Encode()))
			if rp.status != tt.want || rp.header.Get("Location") != "" {
				t.Errorf("%d Location %q, want %d", rp.status, rp.header.Get("Location"), tt.want)
			}
		})
	}
}

// tokenForm is a token request for a fresh code, to be spoiled by a case.
func (f *fixture) tokenForm(t *testing.T) url.Values {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {f.authCode(t, sandbox.UserAda, verifier)},
		"redirect_uri":  {testRedirectURI},
		"client_id":     {testClientID},
		"client_secret": {testClientSecret},
		"code_verifier": {verifier},
	}
}

func (f *fixture) postToken(t *testing.T, form url.Values, basicAuth bool) reply {
	t.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if basicAuth {
		h.Set("Authorization", "Basic "+basic(testClientID, testClientSecret))
	}
	return f.send(t, "POST", "/oauth/token", h, strings.NewReader(form.Encode()))
}

func basic(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func TestOAuthTokenRejections(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	tests := []struct {
		name      string
		spoil     func(url.Values)
		basicAuth bool
		status    int
		errorCode string
	}{
		{"wrong verifier", func(v url.Values) { v.Set("code_verifier", oauth2.GenerateVerifier()) }, false, 400, "invalid_grant"},
		{"missing verifier", func(v url.Values) { v.Del("code_verifier") }, false, 400, "invalid_grant"},
		{"challenge as verifier", func(v url.Values) { v.Set("code_verifier", oauth2.S256ChallengeFromVerifier(v.Get("code_verifier"))) }, false, 400, "invalid_grant"},
		{"redirect mismatch", func(v url.Values) { v.Set("redirect_uri", "http://other.example/cb") }, false, 400, "invalid_grant"},
		{"unknown code", func(v url.Values) { v.Set("code", "sbxc_made-up") }, false, 400, "invalid_grant"},
		{"wrong secret", func(v url.Values) { v.Set("client_secret", "nope") }, false, 401, "invalid_client"},
		{"unknown client", func(v url.Values) { v.Set("client_id", "other") }, false, 401, "invalid_client"},
		{"basic auth only", func(v url.Values) { v.Del("client_id"); v.Del("client_secret") }, true, 401, "invalid_client"},
		{"wrong grant type", func(v url.Values) { v.Set("grant_type", "refresh_token") }, false, 400, "unsupported_grant_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			form := f.tokenForm(t)
			tt.spoil(form)
			rp := f.postToken(t, form, tt.basicAuth)
			var e struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			rp.decode(t, &e)
			if rp.status != tt.status || e.Error != tt.errorCode {
				t.Errorf("%d %s, want %d %s", rp.status, rp.body, tt.status, tt.errorCode)
			}
		})
	}
}

// TestOAuthTokenWithRealClient proves golang.org/x/oauth2 sees the same
// answers: a wrong verifier and header-only credentials are refused.
func TestOAuthTokenWithRealClient(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	tests := []struct {
		name     string
		style    oauth2.AuthStyle
		secret   string
		verifier func(good string) string
		status   int
		code     string
	}{
		{"wrong verifier", oauth2.AuthStyleInParams, testClientSecret, func(string) string { return oauth2.GenerateVerifier() }, 400, "invalid_grant"},
		{"wrong secret", oauth2.AuthStyleInParams, "wrong", func(g string) string { return g }, 401, "invalid_client"},
		{"credentials in header", oauth2.AuthStyleInHeader, testClientSecret, func(g string) string { return g }, 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			verifier := oauth2.GenerateVerifier()
			code := f.authCode(t, sandbox.UserAda, verifier)
			_, err := f.oauthConfig(tt.secret, tt.style).Exchange(t.Context(), code, oauth2.VerifierOption(tt.verifier(verifier)))
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

func TestOAuthCodeIsSingleUse(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	conf := f.oauthConfig(testClientSecret, oauth2.AuthStyleInParams)
	verifier := oauth2.GenerateVerifier()
	code := f.authCode(t, sandbox.UserGrace, verifier)

	tok, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if rp := f.api(t, "GET", "/api/dashboard/profile", tok.AccessToken, nil); rp.status != http.StatusOK {
		t.Fatalf("profile before replay: %d", rp.status)
	}
	_, err = conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("replay: %v, want invalid_grant", err)
	}
	// A replayed code means it leaked, so the token it gave is revoked.
	if rp := f.api(t, "GET", "/api/dashboard/profile", tok.AccessToken, nil); rp.status != http.StatusUnauthorized {
		t.Errorf("profile after replay: %d, want 401", rp.status)
	}
}

func TestOAuthTokenNeedsFormBody(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	form := f.tokenForm(t)
	// Parameters in the query string instead of the body do not count.
	rp := f.send(t, "POST", "/oauth/token?"+form.Encode(), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, nil)
	if rp.status != http.StatusUnauthorized {
		t.Errorf("query-string credentials: %d %s, want 401", rp.status, rp.body)
	}
	rp = f.send(t, "POST", "/oauth/token", http.Header{"Content-Type": {"application/json"}}, strings.NewReader(`{}`))
	if rp.status != http.StatusBadRequest {
		t.Errorf("JSON body: %d %s, want 400", rp.status, rp.body)
	}
}
