package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"chefdeploy/handlers/webtest"
)

func TestLoginRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)

	signedOut := webtest.Do(t, c, "GET", b.app.URL+"/", nil)
	if signedOut.Status != http.StatusOK || !strings.Contains(signedOut.Body, `data-testid="login"`) {
		t.Fatalf("signed-out home = %d without a login link", signedOut.Status)
	}

	q := webtest.StartLogin(t, c, b.app.URL)
	for _, want := range []string{"client_id", "redirect_uri", "state", "code_challenge"} {
		if q.Get(want) == "" {
			t.Errorf("authorize URL lacks %s", want)
		}
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("response_type") != "code" ||
		q.Get("redirect_uri") != b.app.URL+"/auth/callback" {
		t.Errorf("authorize URL query = %v", q)
	}
	callback := webtest.PickUser(t, c, b.cfg.OIDCIssuerURL+"/authorize", q, "ada")
	res := webtest.Do(t, c, "GET", callback, nil)
	if res.Status != http.StatusSeeOther {
		t.Fatalf("callback = %d: %s", res.Status, res.Body)
	}
	home := webtest.Do(t, c, "GET", b.app.URL+"/", nil)
	for _, want := range []string{"Ada Lovelace", "ada@example.com", `data-testid="dashboard"`, `data-testid="logout"`} {
		if !strings.Contains(home.Body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}

	// The Convex token lives only on the server, sealed.
	var sealed string
	if err := b.db.Get(&sealed, `SELECT convex_token FROM sessions`); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "v1.t1.") || strings.Contains(sealed, "sbx") || strings.Contains(sealed, "team:") {
		t.Fatalf("session token is not sealed: %q", sealed)
	}
	appURL, _ := url.Parse(b.app.URL)
	for _, ck := range c.Jar.Cookies(appURL) {
		if strings.Contains(ck.Value, "sbx") || len(ck.Value) > 400 {
			t.Errorf("cookie %s carries more than a session id", ck.Name)
		}
	}
	if logs := b.logs.String(); strings.Contains(logs, "sbx") || strings.Contains(logs, "code=") {
		t.Errorf("logs carry a token or code:\n%s", logs)
	}
}

func TestLoginCookieAttributes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	q := webtest.StartLogin(t, c, b.app.URL)
	res := webtest.Do(t, c, "GET", webtest.PickUser(t, c, b.cfg.OIDCIssuerURL+"/authorize", q, "grace"), nil)
	var session string
	for _, line := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, "chefdeploy_session=") {
			session = line
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(session, want) {
			t.Errorf("session cookie %q lacks %s", session, want)
		}
	}
	if strings.Contains(session, "Secure") {
		t.Error("Secure cookie on an http BASE_URL would never be sent back")
	}
}

func TestCallbackRefusesBadState(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	q := webtest.StartLogin(t, c, b.app.URL)
	callback, _ := url.Parse(webtest.PickUser(t, c, b.cfg.OIDCIssuerURL+"/authorize", q, "ada"))
	code := callback.Query().Get("code")

	cases := map[string]struct {
		client *http.Client
		query  url.Values
	}{
		"missing state":   {c, url.Values{"code": {code}}},
		"wrong state":     {c, url.Values{"code": {code}, "state": {"not-the-state"}}},
		"another browser": {webtest.Browser(t), url.Values{"code": {code}, "state": {q.Get("state")}}},
	}
	for name, tc := range cases {
		res := webtest.Do(t, tc.client, "GET", b.app.URL+"/auth/callback?"+tc.query.Encode(), nil)
		if res.Status != http.StatusBadRequest || !strings.Contains(res.Body, `data-testid="error"`) {
			t.Errorf("%s: callback = %d, want the 400 page", name, res.Status)
		}
	}
	if n := b.tokenCalls.Load(); n != 0 {
		t.Fatalf("a bad state exchanged the code (%d token calls)", n)
	}
	// The attempt from "another browser" consumed the state: the real browser's
	// callback is now a replay and must fail too.
	res := webtest.Do(t, c, "GET", callback.String(), nil)
	if res.Status != http.StatusBadRequest {
		t.Fatalf("spent state accepted: %d", res.Status)
	}
	if n := b.tokenCalls.Load(); n != 0 {
		t.Fatalf("a spent state exchanged the code (%d token calls)", n)
	}
}

func TestCallbackRefusesReplay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	q := webtest.StartLogin(t, c, b.app.URL)
	callback := webtest.PickUser(t, c, b.cfg.OIDCIssuerURL+"/authorize", q, "ada")
	if res := webtest.Do(t, c, "GET", callback, nil); res.Status != http.StatusSeeOther {
		t.Fatalf("first callback = %d", res.Status)
	}
	res := webtest.Do(t, c, "GET", callback, nil)
	if res.Status != http.StatusBadRequest || !strings.Contains(res.Body, "already used") {
		t.Fatalf("replayed callback = %d, want 400 with a clear page", res.Status)
	}
	if n := b.tokenCalls.Load(); n != 1 {
		t.Fatalf("token endpoint called %d times, want exactly 1", n)
	}
}

func TestCallbackShowsOAuthError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	q := webtest.StartLogin(t, c, b.app.URL)
	// A provider's error other than the person's own "no" (access_denied,
	// which TestCancelledSignIn covers) is shown as it came.
	callback := b.app.URL + "/auth/callback?" + url.Values{
		"state": {q.Get("state")}, "error": {"temporarily_unavailable"}, "error_description": {"The provider is down for maintenance"},
	}.Encode()
	res := webtest.Do(t, c, "GET", callback, nil)
	if res.Status != http.StatusBadRequest || !strings.Contains(res.Body, "down for maintenance") {
		t.Fatalf("OAuth error callback = %d: %s", res.Status, res.Body)
	}
	if !strings.Contains(res.Body, `href="/auth/login"`) {
		t.Error("the error page should offer to sign in again")
	}
	if n := b.tokenCalls.Load(); n != 0 {
		t.Fatalf("an OAuth error exchanged a code (%d token calls)", n)
	}
}

func TestTokenExchangeFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *setupOptions) { o.sandboxSecret = "the-sandbox-expects-another-secret" })
	c := webtest.Browser(t)
	q := webtest.StartLogin(t, c, b.app.URL)
	res := webtest.Do(t, c, "GET", webtest.PickUser(t, c, b.cfg.OIDCIssuerURL+"/authorize", q, "ada"), nil)
	if res.Status != http.StatusBadGateway || !strings.Contains(res.Body, "did not accept this sign-in") {
		t.Fatalf("failed exchange = %d: %s", res.Status, res.Body)
	}
	var sessions int
	if err := b.db.Get(&sessions, `SELECT count(*) FROM sessions`); err != nil {
		t.Fatal(err)
	}
	if sessions != 0 {
		t.Fatal("a failed exchange opened a session")
	}
	if strings.Contains(b.logs.String(), "test-client-secret") {
		t.Fatal("the client secret reached the log")
	}
}

func TestLogoutEndsTheSessionOnTheServer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	b.login(t, c, "ada")
	appURL, _ := url.Parse(b.app.URL)
	stolen := c.Jar.Cookies(appURL)

	res := webtest.Do(t, c, "POST", b.app.URL+"/auth/logout", url.Values{})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("logout = %d", res.Status)
	}
	var sessions int
	if err := b.db.Get(&sessions, `SELECT count(*) FROM sessions`); err != nil {
		t.Fatal(err)
	}
	if sessions != 0 {
		t.Fatal("logout left the session row")
	}
	// A copy of the old cookie no longer signs anyone in.
	replay := webtest.Browser(t)
	replay.Jar.SetCookies(appURL, stolen)
	home := webtest.Do(t, replay, "GET", b.app.URL+"/", nil)
	if strings.Contains(home.Body, "Ada Lovelace") || !strings.Contains(home.Body, `data-testid="login"`) {
		t.Fatal("the old session cookie still works after logout")
	}
	if get := webtest.Do(t, c, "GET", b.app.URL+"/auth/logout", nil); get.Status != http.StatusMethodNotAllowed {
		t.Fatalf("GET /auth/logout = %d, want 405", get.Status)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	b.login(t, c, "ada")
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example"},
	} {
		res := webtest.Do(t, c, "POST", b.app.URL+"/auth/logout", url.Values{}, h...)
		if res.Status != http.StatusForbidden {
			t.Errorf("logout with %s: %s = %d, want 403", h[0], h[1], res.Status)
		}
	}
	var sessions int
	if err := b.db.Get(&sessions, `SELECT count(*) FROM sessions`); err != nil {
		t.Fatal(err)
	}
	if sessions != 1 {
		t.Fatal("a cross-origin POST changed state")
	}
	same := webtest.Do(t, c, "POST", b.app.URL+"/auth/logout", url.Values{}, "Sec-Fetch-Site", "same-origin", "Origin", b.app.URL)
	if same.Status != http.StatusSeeOther {
		t.Fatalf("same-origin logout = %d", same.Status)
	}
}

func TestSessionSurvivesRestart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	b.login(t, c, "grace")

	// A new process: fresh handlers from the same settings and database.
	b.app.Config.Handler = b.newHandler(b.loadConfig(t))
	home := webtest.Do(t, c, "GET", b.app.URL+"/", nil)
	if !strings.Contains(home.Body, "Grace Hopper") {
		t.Fatal("session lost across a restart with the same keys")
	}

	// Another SESSION_SECRET cannot read the cookie: signed out, not an error.
	b.env["SESSION_SECRET"] = "another-session-secret-0123456789abcdef"
	b.app.Config.Handler = b.newHandler(b.loadConfig(t))
	home = webtest.Do(t, c, "GET", b.app.URL+"/", nil)
	if home.Status != http.StatusOK || strings.Contains(home.Body, "Grace Hopper") {
		t.Fatalf("a cookie signed with another secret was accepted (%d)", home.Status)
	}
}
