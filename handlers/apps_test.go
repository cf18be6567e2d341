package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
)

func TestCreateAppValidates(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "grace")
	cases := map[string]struct {
		name, message string
	}{
		"empty":       {"   ", "Give your app a name."},
		"too long":    {strings.Repeat("x", 61), "Keep the name to 60 characters or fewer."},
		"no letters":  {"!!!", "Use at least one letter or digit in the name."},
		"control chr": {"bad\x00name", "The name contains characters that cannot be used"},
	}
	for name, tc := range cases {
		res := webtest.Do(t, c, "POST", b.app.URL+"/apps", url.Values{"name": {tc.name}})
		if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Body, tc.message) {
			t.Errorf("%s: %d, want 422 with %q", name, res.Status, tc.message)
		}
	}
	var apps int
	if err := b.db.Get(&apps, `SELECT count(*) FROM apps`); err != nil {
		t.Fatal(err)
	}
	if apps != 0 {
		t.Fatal("a refused form created an app")
	}

	first := b.createApp(t, c, "Tic Tac Toe")
	second := b.createApp(t, c, "Tic-Tac-Toe!")
	var slug string
	if err := b.db.Get(&slug, `SELECT slug FROM apps WHERE id = $1`, second); err != nil {
		t.Fatal(err)
	}
	bySlug := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+slug, nil)
	if first == second || !strings.HasPrefix(slug, "tic-tac-toe-") || !strings.Contains(bySlug.Body, `data-app-id="`+second+`"`) {
		t.Fatal("slugs must be unique per user and open the app")
	}
}

func TestRenameAndDeleteApp(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "grace")
	id := b.createApp(t, c, "Old Name")
	res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/rename", url.Values{"name": {"New Name"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("rename = %d", res.Status)
	}
	page := webtest.Do(t, c, "GET", b.app.URL+"/apps/old-name", nil)
	if !strings.Contains(page.Body, `data-testid="app-name">New Name<`) {
		t.Fatal("rename did not take, or the slug changed")
	}
	if res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/rename", url.Values{"name": {""}}); res.Status != http.StatusUnprocessableEntity {
		t.Fatalf("empty rename = %d, want 422", res.Status)
	}
	res = webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/delete", nil, "HX-Request", "true")
	if res.Status != http.StatusOK || res.Header.Get("HX-Push-Url") != "/" || !strings.Contains(res.Body, "Deleted New Name.") {
		t.Fatalf("delete = %d %q:\n%s", res.Status, res.Header.Get("HX-Push-Url"), res.Body)
	}
	if res := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id, nil); res.Status != http.StatusNotFound {
		t.Fatalf("deleted app = %d", res.Status)
	}
}

// Another user's app answers exactly like a missing one, on every route.
func TestAnotherUsersAppIsNotFound(t *testing.T) {
	t.Parallel()
	b, ada := signedIn(t, "ada")
	id := b.createApp(t, ada, "Ada's App")
	b.connect(t, ada, id, "acme")
	b.waitFinal(t, ada, id, 15*time.Second)

	grace := webtest.Browser(t)
	b.login(t, grace, "grace")
	missing := "00000000-0000-4000-8000-000000000000"
	routes := []struct{ method, path string }{
		{"GET", "/apps/%s"},
		{"GET", "/apps/%s/status"},
		{"GET", "/apps/%s/teams"},
		{"POST", "/apps/%s/connect"},
		{"POST", "/apps/%s/disconnect"},
		{"POST", "/apps/%s/deploy-key"},
		{"POST", "/apps/%s/rename"},
		{"POST", "/apps/%s/delete"},
	}
	for _, rt := range routes {
		var bodies []string
		for _, ref := range []string{id, "adas-app", missing} {
			form := url.Values{"team": {"hopper-labs"}, "name": {"Mine now"}}
			res := webtest.Do(t, grace, rt.method, b.app.URL+strings.Replace(rt.path, "%s", ref, 1), form)
			if res.Status != http.StatusNotFound {
				t.Errorf("%s %s as another user = %d, want 404", rt.method, strings.Replace(rt.path, "%s", ref, 1), res.Status)
			}
			bodies = append(bodies, stripRequestID(res.Body))
		}
		if bodies[0] != bodies[2] {
			t.Errorf("%s %s: another user's app and a missing app answer differently", rt.method, rt.path)
		}
	}
	// Nothing changed for Ada.
	if st := stateOf(t, b.status(t, ada, id).Body); st != "connected" {
		t.Fatalf("ada's app is %s after grace's attempts", st)
	}
	page := webtest.Do(t, ada, "GET", b.app.URL+"/apps/"+id, nil)
	if !strings.Contains(page.Body, "Ada&#39;s App") && !strings.Contains(page.Body, "Ada's App") {
		t.Fatal("ada's app was renamed by another user")
	}
}

func stripRequestID(body string) string {
	if i := strings.Index(body, "Request id:"); i >= 0 {
		return body[:i]
	}
	return body
}

func TestSignedOutIsSentToLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	if res := webtest.Do(t, c, "GET", b.app.URL+"/apps/whatever", nil); res.Status != http.StatusFound || res.Header.Get("Location") != "/auth/login?return=%2Fapps%2Fwhatever" {
		t.Errorf("signed-out page = %d %q", res.Status, res.Header.Get("Location"))
	}
	if res := webtest.Do(t, c, "GET", b.app.URL+"/apps/x/status", nil, "HX-Request", "true"); res.Status != http.StatusUnauthorized || res.Header.Get("HX-Redirect") != "/auth/login" {
		t.Errorf("signed-out poll = %d %q", res.Status, res.Header.Get("HX-Redirect"))
	}
	if res := webtest.Do(t, c, "POST", b.app.URL+"/apps", url.Values{"name": {"x"}}); res.Status != http.StatusUnauthorized {
		t.Errorf("signed-out create = %d", res.Status)
	}
}

func TestConnectValidatesTheTeam(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "grace")
	id := b.createApp(t, c, "Grace App")
	cases := map[string]struct{ team, message string }{
		"no team":        {"", "Choose a team first."},
		"not a slug":     {"../acme", "That is not a valid team."},
		"another's team": {"acme", "Choose one of your Convex teams."},
	}
	for name, tc := range cases {
		res := b.connect(t, c, id, tc.team)
		if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Body, tc.message) || stateOf(t, res.Body) != "none" {
			t.Errorf("%s: %d %s", name, res.Status, res.Body)
		}
	}
	var rows int
	if err := b.db.Get(&rows, `SELECT count(*) FROM connections`); err != nil {
		t.Fatal(err)
	}
	if rows != 0 || b.sandbox.Calls("create_project", "acme") != 0 {
		t.Fatal("a refused connect changed something")
	}
}

func TestTeamSelector(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "grace")
	id := b.createApp(t, c, "One Team")
	teams := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/teams?label=Connect", nil, "HX-Request", "true")
	if !strings.Contains(teams.Body, `value="hopper-labs" selected`) || strings.Contains(teams.Body, `disabled data-testid="connect-button"`) {
		t.Fatalf("a user with one team should have it selected and Connect enabled:\n%s", teams.Body)
	}

	// A provision host that fails: the selector says so and offers a retry.
	b.sandboxDown.Store(true)
	if _, err := b.db.Exec(`UPDATE users SET teams_fetched_at = NULL`); err != nil {
		t.Fatal(err)
	}
	teams = webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/teams?label=Connect", nil, "HX-Request", "true")
	if teams.Status != http.StatusOK || !strings.Contains(teams.Body, `data-testid="teams-error"`) || !strings.Contains(teams.Body, `data-testid="teams-retry"`) {
		t.Fatalf("teams failure not shown with a retry:\n%s", teams.Body)
	}
	b.sandboxDown.Store(false)
	teams = webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/teams?label=Connect", nil, "HX-Request", "true")
	if !strings.Contains(teams.Body, `value="hopper-labs"`) {
		t.Fatal("retry after the provision host recovered does not list the teams")
	}
}
