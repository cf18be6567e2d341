package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
	"chefdeploy/models"
)

// withPlatform runs the bundle in CONVEX_API=platform mode: the Management
// API v1 with the user's team grants (CONTRACT §2.1, §3.2).
func withPlatform() func(*setupOptions) { return withEnv("CONVEX_API", "platform") }

// platformUser is a bundle in platform mode with a browser signed in as user.
func platformUser(t *testing.T, user string, opts ...func(*setupOptions)) (*bundle, *http.Client) {
	t.Helper()
	return signedIn(t, user, append([]func(*setupOptions){withPlatform()}, opts...)...)
}

// connectedOnAcme is an app of ada's connected in platform mode on acme,
// authorized first.
func connectedOnAcme(t *testing.T, name string) (*bundle, *http.Client, string) {
	t.Helper()
	b, c := platformUser(t, "ada")
	id := b.createApp(t, c, name)
	b.authorizeTeam(t, c, "", "ada", "acme")
	b.connect(t, c, id, "acme")
	if st := stateOf(t, b.waitFinal(t, c, id, 15*time.Second).Body); st != "connected" {
		t.Fatalf("state = %s", st)
	}
	return b, c, id
}

// teamSelector loads the app's team selector as the connect form does.
func (b *bundle) teamSelector(t *testing.T, c *http.Client, appID string) string {
	t.Helper()
	res := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+appID+"/teams?label=Connect", nil, "HX-Request", "true")
	if res.Status != http.StatusOK {
		t.Fatalf("team selector = %d:\n%s", res.Status, res.Body)
	}
	return res.Body
}

// authorizeLink is the href of the selector's authorize action, unescaped.
var authorizeLink = regexp.MustCompile(`href="(/teams/authorize[^"]*)"[^>]*data-testid="(authorize-team|authorize-another|reauthorize-team)"`)

func authorizeLinks(body string) map[string]string {
	out := map[string]string{}
	for _, m := range authorizeLink.FindAllStringSubmatch(body, -1) {
		out[m[2]] = strings.ReplaceAll(m[1], "&amp;", "&")
	}
	return out
}

func TestPlatformTeamSelectorListsGrants(t *testing.T) {
	t.Parallel()
	b, c := platformUser(t, "ada")
	id := b.createApp(t, c, "Grants")
	back := url.QueryEscape("/apps/" + id)

	// No grant yet: the selector offers to authorize a team, and no call
	// reaches the provision host.
	body := b.teamSelector(t, c, id)
	if got := authorizeLinks(body)["authorize-team"]; got != "/teams/authorize?return="+back {
		t.Fatalf("no grant: authorize link = %q in:\n%s", got, body)
	}
	if strings.Contains(body, `data-testid="team-select"`) {
		t.Fatal("a user without grants has no teams to choose from")
	}

	// One grant: chosen already, with "Authorize another team".
	if res := b.authorizeTeam(t, c, "?return="+back, "ada", "acme"); res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/apps/"+id {
		t.Fatalf("authorize acme = %d to %q", res.Status, res.Header.Get("Location"))
	}
	body = b.teamSelector(t, c, id)
	if !strings.Contains(body, `<option value="acme" selected>`) {
		t.Fatalf("the only grant is not chosen:\n%s", body)
	}
	if got := authorizeLinks(body)["authorize-another"]; got != "/teams/authorize?return="+back {
		t.Fatalf("authorize another link = %q in:\n%s", got, body)
	}

	// Two grants: both listed, none chosen until the user picks.
	b.authorizeTeam(t, c, "", "ada", "nearly-full")
	body = b.teamSelector(t, c, id)
	if !strings.Contains(body, `<option value="acme">`) || !strings.Contains(body, `<option value="nearly-full">`) || !strings.Contains(body, `disabled data-testid="connect-button"`) {
		t.Fatalf("two grants, none chosen:\n%s", body)
	}
	if n := b.hits("GET /api/dashboard/teams"); n != 0 {
		t.Fatalf("platform mode listed teams at the provision host %d times", n)
	}
}

func TestPlatformConnectWithoutAGrantAsksToAuthorize(t *testing.T) {
	t.Parallel()
	b, c := platformUser(t, "ada")
	id := b.createApp(t, c, "No Grant")
	res := b.connect(t, c, id, "acme")
	want := "/teams/authorize?team=acme&amp;return=" + url.QueryEscape("/apps/"+id)
	if res.Status != http.StatusBadRequest || !strings.Contains(res.Body, `href="`+want+`"`) {
		t.Fatalf("connect without a grant = %d, want 400 with a link to %s:\n%s", res.Status, want, res.Body)
	}
	if _, err := models.ConnectionByApp(t.Context(), b.db, id); err == nil {
		t.Fatal("a connect without a grant started a connection")
	}
	if n := b.sandbox.Calls("create_project", "acme"); n != 0 {
		t.Fatalf("create_project called %d times", n)
	}
}

func TestPlatformConnectUsesTheManagementAPI(t *testing.T) {
	t.Parallel()
	b, c := platformUser(t, "ada")
	id := b.createApp(t, c, "Platform App")
	b.authorizeTeam(t, c, "", "ada", "acme")

	if res := b.connect(t, c, id, "acme"); res.Status != http.StatusOK || stateOf(t, res.Body) != "connecting" {
		t.Fatalf("connect = %d:\n%s", res.Status, res.Body)
	}
	final := b.waitFinal(t, c, id, 15*time.Second)
	if stateOf(t, final.Body) != "connected" {
		t.Fatalf("not connected:\n%s", final.Body)
	}
	projects := b.sandbox.Projects("acme")
	if len(projects) != 1 {
		t.Fatalf("projects = %+v", projects)
	}
	p := projects[0]
	conn, err := models.ConnectionByApp(t.Context(), b.db, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(conn.DeployKeyName, "chefdeploy-"+id+"-") || !slices.Contains(p.DeployKeyNames, conn.DeployKeyName) {
		t.Fatalf("deploy key %q not made by create_deploy_key (deployment keys %v)", conn.DeployKeyName, p.DeployKeyNames)
	}
	for _, call := range []string{"POST /v1/teams/", "POST /v1/deployments/" + p.DeploymentName + "/create_deploy_key"} {
		if b.hits(call) == 0 {
			t.Errorf("no %s call", call)
		}
	}
	if n := b.hits("POST /api/create_project") + b.hits("POST /api/dashboard/authorize"); n != 0 {
		t.Fatalf("platform mode called the provision host %d times", n)
	}
	reveal := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/deploy-key", url.Values{}, "HX-Request", "true")
	if !strings.Contains(reveal.Body, "CONVEX_DEPLOY_KEY=dev:"+p.DeploymentName+"|") {
		t.Fatalf("revealed key is not the create_deploy_key one:\n%s", reveal.Body)
	}
	// No usage meter and no projects-remaining warning in platform mode.
	if strings.Contains(final.Body, `data-testid="connection-warning"`) {
		t.Fatal("platform mode shows a projects-remaining warning")
	}
	usage := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/usage", nil, "HX-Request", "true")
	if usage.Status != http.StatusOK || !strings.Contains(usage.Body, `data-testid="usage-unavailable"`) || strings.Contains(usage.Body, `data-testid="usage-meter"`) {
		t.Fatalf("usage in platform mode = %d:\n%s", usage.Status, usage.Body)
	}
	if n := b.sandbox.Calls("get_token_info", "acme"); n != 0 {
		t.Fatalf("platform mode asked the provision host for usage %d times", n)
	}
}

func TestPlatformRevokedGrantOffersToAuthorizeAgain(t *testing.T) {
	t.Parallel()
	b, c := platformUser(t, "ada")
	id := b.createApp(t, c, "Revoked")
	b.authorizeTeam(t, c, "", "ada", "acme")
	g := b.grants(t, b.userID(t, "ada@example.com"))[0]
	if ok, err := models.MarkTeamGrantRevoked(t.Context(), b.db, g.UserID, g.TeamID, g.Token); err != nil || !ok {
		t.Fatalf("marking the grant revoked: %v %v", ok, err)
	}
	body := b.teamSelector(t, c, id)
	want := "/teams/authorize?team=acme&return=" + url.QueryEscape("/apps/"+id)
	if got := authorizeLinks(body)["reauthorize-team"]; got != want {
		t.Fatalf("revoked grant: reauthorize link = %q, want %q in:\n%s", got, want, body)
	}
	res := b.connect(t, c, id, "acme")
	if res.Status != http.StatusBadRequest || !strings.Contains(res.Body, strings.ReplaceAll(want, "&", "&amp;")) ||
		!strings.Contains(res.Body, "Convex no longer accepts your authorization for team acme. Authorize the team again.") {
		t.Fatalf("connect with a revoked grant = %d:\n%s", res.Status, res.Body)
	}
	// Authorizing again makes the team usable.
	b.authorizeTeam(t, c, "?team=acme", "ada", "acme")
	if res := b.connect(t, c, id, "acme"); res.Status != http.StatusOK {
		t.Fatalf("connect after authorizing again = %d:\n%s", res.Status, res.Body)
	}
	if st := stateOf(t, b.waitFinal(t, c, id, 15*time.Second).Body); st != "connected" {
		t.Fatalf("state after authorizing again = %s", st)
	}
}

func TestPlatformDisconnectDeletesTheDeployKey(t *testing.T) {
	t.Parallel()
	b, c, id := connectedOnAcme(t, "Key Delete")
	res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/disconnect", url.Values{}, "HX-Request", "true")
	if res.Status != http.StatusOK || !strings.Contains(res.Body, "chefdeploy deleted its deploy key") {
		t.Fatalf("disconnect = %d:\n%s", res.Status, res.Body)
	}
	eventually(t, 15*time.Second, "the deploy key deleted at Convex", func() bool {
		p := b.sandbox.Projects("acme")
		return len(p) == 1 && len(p[0].DeployKeyNames) == 0
	})
	if b.hits("POST /v1/deployments/") < 2 {
		t.Fatal("no delete_deploy_key call")
	}
}

func TestPlatformDisconnectWithoutAGrantSaysTheKeyStays(t *testing.T) {
	t.Parallel()
	b, c, id := connectedOnAcme(t, "Forgotten")
	g := b.grants(t, b.userID(t, "ada@example.com"))[0]
	if res := webtest.Do(t, c, "POST", b.app.URL+"/teams/"+strconv.FormatInt(g.TeamID, 10)+"/forget", url.Values{}); res.Status >= 400 {
		t.Fatalf("forget = %d", res.Status)
	}
	res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/disconnect", url.Values{}, "HX-Request", "true")
	if res.Status != http.StatusOK || !strings.Contains(res.Body, "stays valid until it is deleted in the Convex dashboard") {
		t.Fatalf("disconnect without a grant = %d:\n%s", res.Status, res.Body)
	}
	if stateOf(t, res.Body) != "none" {
		t.Fatal("the link was not dropped")
	}
}

func TestPlatformDeleteAppDeletesItsProjectWithTheGrant(t *testing.T) {
	t.Parallel()
	b, c, id := connectedOnAcme(t, "Delete Me")
	res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/delete", url.Values{"delete_project": {"1"}})
	if res.Status >= 400 {
		t.Fatalf("delete = %d:\n%s", res.Status, res.Body)
	}
	if p := b.sandbox.Projects("acme"); len(p) != 0 {
		t.Fatalf("project left on acme: %+v", p)
	}
}

// hits counts the requests to the sandbox whose "METHOD /path" starts with prefix.
func (b *bundle) hits(prefix string) int64 {
	var n int64
	b.sandboxRequests.Range(func(k, v any) bool {
		if strings.HasPrefix(k.(string), prefix) {
			n += v.(*atomic.Int64).Load()
		}
		return true
	})
	return n
}

// eventually polls cond until it holds, failing the test after within.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Platform mode has no usage meter, so the builder's usage API answers 404
// with the reason and calls nothing.
func TestPlatformUsageAPIHasNoMeter(t *testing.T) {
	t.Parallel()
	b, c, id := connectedOnAcme(t, "Usage API")
	created := webtest.Do(t, c, "POST", b.app.URL+"/settings/tokens", url.Values{"name": {"Builder"}})
	m := regexp.MustCompile(`data-testid="new-token">(cdp_[A-Za-z0-9_-]+)<`).FindStringSubmatch(created.Body)
	if m == nil {
		t.Fatalf("token creation = %d:\n%s", created.Status, created.Body)
	}
	res := b.apiUsage(t, m[1], `{"appId":"`+id+`","centitokens":1234}`)
	if res.Status != http.StatusNotFound || !strings.Contains(res.Body, "no usage meter") {
		t.Fatalf("usage API in platform mode = %d: %s", res.Status, res.Body)
	}
	if n := b.sandbox.Calls("record_tokens", "acme"); n != 0 {
		t.Fatalf("record_tokens called %d times", n)
	}
}

// A new app's selector offers first the team of the last connect that
// succeeded, never one that just failed (issue 12: "a new app preselects
// the last team picked, even a failing one").
func TestNewAppPreselectsTheLastTeamThatWorked(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	first := b.createApp(t, c, "Worked")
	b.connect(t, c, first, "acme")
	if st := stateOf(t, b.waitFinal(t, c, first, 15*time.Second).Body); st != "connected" {
		t.Fatalf("acme: %s", st)
	}
	second := b.createApp(t, c, "Failed")
	b.connect(t, c, second, "quota-reached")
	if st := stateOf(t, b.waitFinal(t, c, second, 15*time.Second).Body); st != "failed" {
		t.Fatalf("quota-reached: %s", st)
	}
	third := b.createApp(t, c, "Fresh")
	body := b.teamSelector(t, c, third)
	if !strings.Contains(body, `<option value="acme" selected>`) || strings.Contains(body, `<option value="quota-reached" selected>`) {
		t.Fatalf("the new app's selector should offer acme, not the failing team:\n%s", body)
	}
}
