package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
)

var dataState = regexp.MustCompile(`data-testid="connection" data-state="([a-z]+)"`)

// stateOf reads data-state off the status fragment's root.
func stateOf(t *testing.T, body string) string {
	t.Helper()
	m := dataState.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no status fragment root in:\n%s", body)
	}
	return m[1]
}

// createApp makes an app through the form and returns its id.
func (b *bundle) createApp(t *testing.T, c *http.Client, name string) string {
	t.Helper()
	res := webtest.Do(t, c, "POST", b.app.URL+"/apps", url.Values{"name": {name}})
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/apps/") {
		t.Fatalf("create app = %d %q: %s", res.Status, res.Header.Get("Location"), res.Body)
	}
	return strings.TrimPrefix(res.Header.Get("Location"), "/apps/")
}

// connect clicks Connect for team the way HTMX sends it.
func (b *bundle) connect(t *testing.T, c *http.Client, appID, team string) webtest.Response {
	t.Helper()
	return webtest.Do(t, c, "POST", b.app.URL+"/apps/"+appID+"/connect", url.Values{"team": {team}}, "HX-Request", "true")
}

// status fetches the status fragment as the poll does.
func (b *bundle) status(t *testing.T, c *http.Client, appID string) webtest.Response {
	t.Helper()
	return webtest.Do(t, c, "GET", b.app.URL+"/apps/"+appID+"/status", nil, "HX-Request", "true")
}

// waitFinal polls the status fragment until its state is final and returns it.
func (b *bundle) waitFinal(t *testing.T, c *http.Client, appID string, within time.Duration) webtest.Response {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		res := b.status(t, c, appID)
		if st := stateOf(t, res.Body); st == "connected" || st == "failed" {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("still not final after %v:\n%s", within, res.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signedIn is a bundle with a browser signed in as user.
func signedIn(t *testing.T, user string, opts ...func(*setupOptions)) (*bundle, *http.Client) {
	t.Helper()
	b := setup(t, opts...)
	c := webtest.Browser(t)
	b.login(t, c, user)
	return b, c
}

func TestConnectHappyPath(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	id := b.createApp(t, c, "Tic Tac Toe")

	page := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id, nil)
	if stateOf(t, page.Body) != "none" || !strings.Contains(page.Body, `data-testid="teams-loading"`) {
		t.Fatal("a new app's page should offer the team selector")
	}
	teams := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/teams?label=Connect", nil, "HX-Request", "true")
	if !strings.Contains(teams.Body, `value="acme"`) || !strings.Contains(teams.Body, `disabled data-testid="connect-button"`) {
		t.Fatalf("ada has several teams: none chosen yet and Connect disabled:\n%s", teams.Body)
	}

	res := b.connect(t, c, id, "acme")
	if res.Status != http.StatusOK || stateOf(t, res.Body) != "connecting" ||
		!strings.Contains(res.Body, `hx-get="/apps/`+id+`/status" hx-trigger="every 1s"`) {
		t.Fatalf("connect answered %d without a polling fragment:\n%s", res.Status, res.Body)
	}
	final := b.waitFinal(t, c, id, 15*time.Second)
	if stateOf(t, final.Body) != "connected" {
		t.Fatalf("connection failed:\n%s", final.Body)
	}
	if strings.Contains(final.Body, "hx-trigger") && strings.Contains(final.Body, "every 1s") {
		t.Fatal("a final fragment must not poll")
	}
	projects := b.sandbox.Projects("acme")
	if len(projects) != 1 || projects[0].Slug != "tic-tac-toe" {
		t.Fatalf("sandbox projects = %+v", projects)
	}
	deployment := projects[0].DeploymentName
	for _, want := range []string{
		`data-testid="project-slug">tic-tac-toe<`,
		b.cfg.DashboardLink(deployment),
		"CONVEX_DEPLOYMENT=dev:" + deployment,
		"VITE_CONVEX_URL=" + b.sandboxURL + "/d/" + deployment,
		`data-testid="reveal-key"`,
	} {
		if !strings.Contains(final.Body, want) {
			t.Errorf("connected fragment lacks %q", want)
		}
	}
	if strings.Contains(final.Body, "project:acme:") {
		t.Fatal("the deploy key is rendered before it is revealed")
	}

	env := b.sandbox.Env(deployment)
	for _, name := range []string{"JWT_PRIVATE_KEY", "JWKS", "SITE_URL"} {
		if env[name] == "" {
			t.Errorf("deployment env lacks %s", name)
		}
	}
	if env["SITE_URL"] != b.cfg.SiteLink(deployment) || !strings.HasPrefix(env["JWT_PRIVATE_KEY"], "-----BEGIN PRIVATE KEY----- ") {
		t.Errorf("env SITE_URL=%q JWT_PRIVATE_KEY starts %.30q", env["SITE_URL"], env["JWT_PRIVATE_KEY"])
	}

	reveal := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/deploy-key", url.Values{}, "HX-Request", "true")
	key := regexp.MustCompile(`CONVEX_DEPLOY_KEY=(project:acme:tic-tac-toe\|[^<\s]+)`).FindStringSubmatch(reveal.Body)
	if reveal.Status != http.StatusOK || key == nil {
		t.Fatalf("reveal = %d:\n%s", reveal.Status, reveal.Body)
	}

	// The app's history shows what happened, the reveal included.
	page = webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id, nil)
	for _, kind := range []string{"connect_started", "connect_succeeded", "deploy_key_revealed"} {
		if !strings.Contains(page.Body, `data-kind="`+kind+`"`) {
			t.Errorf("history lacks %s", kind)
		}
	}
	if strings.Contains(page.Body, key[1]) {
		t.Fatal("the deploy key is on the page after a reload")
	}
	// The team is remembered for next time.
	teams = webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/teams?label=Connect", nil, "HX-Request", "true")
	if !strings.Contains(teams.Body, `value="acme" selected`) {
		t.Fatal("the last team picked is not preselected")
	}
	dash := webtest.Do(t, c, "GET", b.app.URL+"/", nil)
	if !strings.Contains(dash.Body, `data-state="connected"`) || !strings.Contains(dash.Body, "Tic Tac Toe") {
		t.Fatal("dashboard does not list the connected app")
	}
	b.assertNoSecrets(t, key[1], page.Body, final.Body, dash.Body)
}
