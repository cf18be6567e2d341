package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"chefdeploy/handlers/webtest"
	"chefdeploy/models"
)

// startTeamAuthorize opens /teams/authorize with query (e.g. "?team=acme")
// and returns the consent URL it redirects to.
func (b *bundle) startTeamAuthorize(t *testing.T, c *http.Client, query string) *url.URL {
	t.Helper()
	res := webtest.Do(t, c, "GET", b.app.URL+"/teams/authorize"+query, nil)
	if res.Status != http.StatusFound {
		t.Fatalf("/teams/authorize%s = %d, want 302:\n%s", query, res.Status, res.Body)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// authorizeTeam runs the whole flow for team as user and returns the
// product's answer to the callback.
func (b *bundle) authorizeTeam(t *testing.T, c *http.Client, query, user, team string) webtest.Response {
	t.Helper()
	return webtest.AuthorizeTeam(t, c, b.app.URL, query, user, team)
}

// userID is the id of the demo user with email.
func (b *bundle) userID(t *testing.T, email string) string {
	t.Helper()
	var id string
	if err := b.db.Get(&id, `SELECT id FROM users WHERE email = $1`, email); err != nil {
		t.Fatal(err)
	}
	return id
}

// grants are the user's stored grants.
func (b *bundle) grants(t *testing.T, userID string) []models.TeamGrant {
	t.Helper()
	gs, err := models.TeamGrantsOf(t.Context(), b.db, userID)
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

// openGrant unseals a stored grant's token, as the product does.
func (b *bundle) openGrant(t *testing.T, g models.TeamGrant) string {
	t.Helper()
	token, err := b.cfg.Credentials.OpenString(g.Token, models.TeamGrantPurpose(g.UserID, g.TeamID))
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func TestTeamAuthorizeStoresASealedGrant(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	var pages []string

	consent := b.startTeamAuthorize(t, c, "")
	q := consent.Query()
	if got := consent.Scheme + "://" + consent.Host + consent.Path; got != b.sandboxURL+"/oauth/authorize/team" {
		t.Errorf("authorize goes to %s, want the team consent", got)
	}
	for k, want := range map[string]string{
		"client_id": "test-client", "redirect_uri": b.app.URL + "/teams/callback",
		"response_type": "code", "code_challenge_method": "S256",
	} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if q.Get("state") == "" || q.Get("code_challenge") == "" || q.Has("team") {
		t.Errorf("want a state and a challenge and no team: %v", q)
	}
	pick, callback := webtest.TeamConsent(t, c, consent, "ada", "acme")
	pages = append(pages, pick)
	res := webtest.Do(t, c, "GET", callback, nil)
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/settings" {
		t.Fatalf("callback = %d %q, want 303 to /settings:\n%s", res.Status, res.Header.Get("Location"), res.Body)
	}

	ada := b.userID(t, "ada@example.com")
	gs := b.grants(t, ada)
	if len(gs) != 1 || gs[0].TeamID != 1 || gs[0].TeamSlug != "acme" || gs[0].Revoked() || gs[0].TokenName == "" {
		t.Fatalf("grants = %+v, want acme (id 1) with its token's name", gs)
	}
	token := b.openGrant(t, gs[0])
	if !strings.HasPrefix(token, "team:acme|") || strings.Contains(gs[0].Token, token) || strings.Contains(gs[0].Token, "team:acme|") {
		t.Fatalf("the grant is not sealed: %q", gs[0].Token)
	}
	if n := b.count(t, `SELECT count(*) FROM events WHERE kind = 'team_authorized' AND actor_id = $1 AND detail NOT LIKE '%|%'`, ada); n != 1 {
		t.Errorf("%d team_authorized events, want 1", n)
	}

	settings := webtest.Do(t, c, "GET", b.app.URL+"/settings", nil)
	pages = append(pages, res.Body, settings.Body)
	row := grantRow(t, settings.Body, "acme")
	if !strings.Contains(row, `data-revoked="false"`) || !strings.Contains(row, `data-testid="forget-team"`) {
		t.Errorf("settings row for acme:\n%s", row)
	}
	if !strings.Contains(settings.Body, `href="/teams/authorize?return=/settings"`) {
		t.Errorf("settings offers no \"Authorize another team\"")
	}
	for _, p := range pages {
		if strings.Contains(p, token) {
			t.Fatal("the team token appears in a page")
		}
	}
	if strings.Contains(b.logs.String(), token) || strings.Contains(b.logs.String(), strings.SplitN(token, "|", 2)[1]) {
		t.Fatal("the team token appears in the log")
	}
}

// grantRow is the settings page's row for the team, or fails.
func grantRow(t *testing.T, page, slug string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<li[^>]*data-testid="team-grant"[^>]*data-team-slug="` + regexp.QuoteMeta(slug) + `".*?</li>`).FindString(page)
	if m == "" {
		t.Fatalf("settings lists no grant for %s:\n%s", slug, page)
	}
	return m
}

func TestTeamAuthorizePreselectsTheTeam(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	consent := b.startTeamAuthorize(t, c, "?team=flaky")
	if consent.Query().Get("team") != "flaky" {
		t.Fatalf("the consent URL does not preselect flaky: %s", consent)
	}
	pick, callback := webtest.TeamConsent(t, c, consent, "ada", "flaky")
	if !regexp.MustCompile(`value="flaky" checked`).MatchString(pick) {
		t.Errorf("flaky is not checked on the consent page:\n%s", pick)
	}
	if res := webtest.Do(t, c, "GET", callback, nil); res.Status != http.StatusSeeOther {
		t.Fatalf("callback = %d:\n%s", res.Status, res.Body)
	}
	if gs := b.grants(t, b.userID(t, "ada@example.com")); len(gs) != 1 || gs[0].TeamSlug != "flaky" {
		t.Fatalf("grants = %+v, want flaky", gs)
	}

	// A preselect that is no slug is left out rather than sent on.
	for _, hint := range []string{"acme&x=<y>", "acme|x", "", strings.Repeat("a", 65)} {
		if q := b.startTeamAuthorize(t, c, "?team="+url.QueryEscape(hint)).Query(); q.Has("team") || q.Has("x") {
			t.Errorf("the team hint %q reached the consent URL: %v", hint, q)
		}
	}
}

func TestTeamAuthorizeReturnsOnlyToLocalPaths(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	tests := []struct{ ret, want string }{
		{"/apps/123?tab=x", "/apps/123?tab=x"},
		{"/settings", "/settings"},
		{"https://evil.example/x", "/settings"},
		{"//evil.example/x", "/settings"},
		{`/\evil.example/x`, "/settings"},
		{"evil.example", "/settings"},
		{"javascript:alert(1)", "/settings"},
		{"", "/settings"},
	}
	for _, tt := range tests {
		res := b.authorizeTeam(t, c, "?return="+url.QueryEscape(tt.ret), "ada", "acme")
		if res.Status != http.StatusSeeOther || res.Header.Get("Location") != tt.want {
			t.Errorf("return %q: callback = %d %q, want 303 to %q", tt.ret, res.Status, res.Header.Get("Location"), tt.want)
		}
	}
}

func TestTeamCallbackRefusesBadState(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	ada := b.userID(t, "ada@example.com")
	_, callback := webtest.TeamConsent(t, c, b.startTeamAuthorize(t, c, ""), "ada", "acme")
	cb, err := url.Parse(callback)
	if err != nil {
		t.Fatal(err)
	}
	withState := func(state string, drop bool) string {
		q := cb.Query()
		q.Set("state", state)
		if drop {
			q.Del("state")
		}
		u := *cb
		u.RawQuery = q.Encode()
		return u.String()
	}
	// A genuine state from another browser, signed in as the same user.
	other := webtest.Browser(t)
	b.login(t, other, "ada")
	otherState := b.startTeamAuthorize(t, other, "").Query().Get("state")

	before := b.tokenCalls.Load()
	for name, target := range map[string]string{
		"missing":              withState("", true),
		"wrong":                withState("not-a-state", false),
		"tampered":             withState(cb.Query().Get("state")+"x", false),
		"another browser's":    withState(otherState, false),
		"a login state reused": withState(webtest.StartLogin(t, c, b.app.URL).Get("state"), false),
	} {
		res := webtest.Do(t, c, "GET", target, nil)
		if res.Status != http.StatusBadRequest || !strings.Contains(res.Body, "Authorize the team again") {
			t.Errorf("%s state: %d, want the 400 page:\n%s", name, res.Status, res.Body)
		}
	}
	if n := b.tokenCalls.Load() - before; n != 0 {
		t.Errorf("%d token exchanges for bad states", n)
	}
	if gs := b.grants(t, ada); len(gs) != 0 {
		t.Fatalf("a bad state stored %+v", gs)
	}

	// The genuine callback works once; its replay is refused and exchanges nothing.
	if res := webtest.Do(t, c, "GET", callback, nil); res.Status != http.StatusSeeOther {
		t.Fatalf("callback = %d:\n%s", res.Status, res.Body)
	}
	if _, err := models.ForgetTeamGrant(t.Context(), b.db, ada, 1); err != nil {
		t.Fatal(err)
	}
	before = b.tokenCalls.Load()
	if res := webtest.Do(t, c, "GET", callback, nil); res.Status != http.StatusBadRequest {
		t.Fatalf("replayed callback = %d, want 400", res.Status)
	}
	if n := b.tokenCalls.Load() - before; n != 0 || len(b.grants(t, ada)) != 0 {
		t.Fatalf("a replay exchanged %d codes or stored a grant", n)
	}
}

func TestTeamCallbackShowsConvexError(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	consent := b.startTeamAuthorize(t, c, "?return=/apps/abc")
	form := consent.Query()
	form.Set("action", "deny")
	deny := webtest.Do(t, c, "POST", consent.Scheme+"://"+consent.Host+consent.Path, form)
	if deny.Status != http.StatusFound {
		t.Fatalf("deny = %d", deny.Status)
	}
	before := b.tokenCalls.Load()
	res := webtest.Do(t, c, "GET", deny.Header.Get("Location"), nil)
	if res.Status != http.StatusBadRequest || !strings.Contains(res.Body, "The user denied access to their Convex team.") ||
		!strings.Contains(res.Body, `href="/apps/abc"`) {
		t.Fatalf("error callback = %d, want the message and a link back:\n%s", res.Status, res.Body)
	}
	if n := b.tokenCalls.Load() - before; n != 0 || len(b.grants(t, b.userID(t, "ada@example.com"))) != 0 {
		t.Fatalf("an error callback exchanged %d codes or stored a grant", n)
	}
}

func TestTeamForget(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	ada := b.userID(t, "ada@example.com")
	for _, team := range []string{"acme", "flaky"} {
		if res := b.authorizeTeam(t, c, "", "ada", team); res.Status != http.StatusSeeOther {
			t.Fatalf("authorizing %s = %d", team, res.Status)
		}
	}

	// Someone else's grant is the same 404 as a missing one, and stays.
	grace := webtest.Browser(t)
	b.login(t, grace, "grace")
	for _, path := range []string{"/teams/1/forget", "/teams/999/forget", "/teams/acme/forget", "/teams/-1/forget"} {
		if res := webtest.Do(t, grace, "POST", b.app.URL+path, url.Values{}); res.Status != http.StatusNotFound {
			t.Errorf("grace POST %s = %d, want 404", path, res.Status)
		}
	}
	// A cross-origin post is refused.
	if res := webtest.Do(t, c, "POST", b.app.URL+"/teams/1/forget", url.Values{}, "Sec-Fetch-Site", "cross-site"); res.Status != http.StatusForbidden {
		t.Errorf("cross-origin forget = %d, want 403", res.Status)
	}
	if gs := b.grants(t, ada); len(gs) != 2 {
		t.Fatalf("ada's grants changed: %+v", gs)
	}

	res := webtest.Do(t, c, "POST", b.app.URL+"/teams/1/forget", url.Values{})
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/settings" {
		t.Fatalf("forget = %d %q, want 303 to /settings", res.Status, res.Header.Get("Location"))
	}
	if gs := b.grants(t, ada); len(gs) != 1 || gs[0].TeamSlug != "flaky" {
		t.Fatalf("after forgetting acme: %+v", gs)
	}
	if n := b.count(t, `SELECT count(*) FROM events WHERE kind = 'team_forgotten' AND actor_id = $1`, ada); n != 1 {
		t.Errorf("%d team_forgotten events, want 1", n)
	}
	if res := webtest.Do(t, c, "POST", b.app.URL+"/teams/1/forget", url.Values{}); res.Status != http.StatusNotFound {
		t.Errorf("forgetting again = %d, want 404", res.Status)
	}
	settings := webtest.Do(t, c, "GET", b.app.URL+"/settings", nil)
	if strings.Contains(settings.Body, `data-team-slug="acme"`) {
		t.Error("settings still lists acme")
	}
}

func TestTeamAuthorizeAgainReplacesTheGrant(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	ada := b.userID(t, "ada@example.com")
	if res := b.authorizeTeam(t, c, "", "ada", "acme"); res.Status != http.StatusSeeOther {
		t.Fatalf("authorize = %d", res.Status)
	}
	first := b.grants(t, ada)[0]
	marked, err := models.MarkTeamGrantRevoked(t.Context(), b.db, ada, first.TeamID, first.Token)
	if err != nil || !marked {
		t.Fatalf("marking revoked: %v %v", marked, err)
	}

	settings := webtest.Do(t, c, "GET", b.app.URL+"/settings", nil)
	row := grantRow(t, settings.Body, "acme")
	if !strings.Contains(row, `data-revoked="true"`) || !strings.Contains(row, `href="/teams/authorize?team=acme&amp;return=/settings"`) {
		t.Fatalf("a revoked grant should offer to authorize again:\n%s", row)
	}

	// The link preselects acme and comes back to the settings.
	consent := b.startTeamAuthorize(t, c, "?team=acme&return=/settings")
	if consent.Query().Get("team") != "acme" {
		t.Errorf("authorize again does not preselect acme")
	}
	_, callback := webtest.TeamConsent(t, c, consent, "ada", "acme")
	if res := webtest.Do(t, c, "GET", callback, nil); res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/settings" {
		t.Fatalf("callback = %d %q", res.Status, res.Header.Get("Location"))
	}
	gs := b.grants(t, ada)
	if len(gs) != 1 || gs[0].Revoked() || gs[0].Token == first.Token || b.openGrant(t, gs[0]) == b.openGrant(t, first) {
		t.Fatalf("authorizing again did not replace the grant: %+v", gs)
	}
	// A late 401 for the old token leaves the new grant alone.
	if marked, err := models.MarkTeamGrantRevoked(t.Context(), b.db, ada, first.TeamID, first.Token); err != nil || marked {
		t.Fatalf("the old token's 401 marked the new grant: %v %v", marked, err)
	}
	if row := grantRow(t, webtest.Do(t, c, "GET", b.app.URL+"/settings", nil).Body, "acme"); !strings.Contains(row, `data-revoked="false"`) {
		t.Fatalf("the new grant shows revoked:\n%s", row)
	}
}

func TestTeamAuthorizeNeedsASignedInUser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	res := webtest.Do(t, c, "GET", b.app.URL+"/teams/authorize", nil)
	if res.Status != http.StatusFound || res.Header.Get("Location") != "/auth/login?return=%2Fteams%2Fauthorize" {
		t.Fatalf("signed out /teams/authorize = %d %q, want the login, back here after", res.Status, res.Header.Get("Location"))
	}
	if res := webtest.Do(t, c, "POST", b.app.URL+"/teams/1/forget", url.Values{}); res.Status != http.StatusUnauthorized {
		t.Fatalf("signed out forget = %d, want 401", res.Status)
	}
}
