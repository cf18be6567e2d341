package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"chefdeploy/handlers/webtest"
)

func TestProjectDashboardEnvVars(t *testing.T) {
	t.Parallel()
	b, c, id, deployment := connectedApp(t, "grace", "hopper-labs")
	page := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/dashboard", nil)
	for _, want := range []string{
		`data-testid="deployment-name">` + deployment + `<`,
		b.cfg.DashboardLink(deployment),
		// The site link waits for the first live deploy (TestViewSiteOnlyOnceLive).
		`data-name="JWT_PRIVATE_KEY" data-state="set"`,
		`data-name="SITE_URL" data-state="set"`,
		`data-dashboard-origin="` + b.sandboxURL + `"`,
	} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("project page lacks %q", want)
		}
	}
	if strings.Contains(page.Body, "BEGIN PRIVATE KEY") || strings.Contains(page.Body, "project:hopper-labs:") {
		t.Fatal("the project page shows a secret value")
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-src 'self' "+b.sandboxURL) {
		t.Errorf("CSP does not allow framing the dashboard: %q", csp)
	}

	set := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/env", url.Values{"action": {"set"}, "name": {"OPENAI_API_KEY"}, "value": {"sk-test-secret"}}, "HX-Request", "true")
	if set.Status != http.StatusOK || !strings.Contains(set.Body, `data-name="OPENAI_API_KEY" data-state="set"`) || strings.Contains(set.Body, "sk-test-secret") {
		t.Fatalf("set = %d:\n%s", set.Status, set.Body)
	}
	if b.sandbox.Env(deployment)["OPENAI_API_KEY"] != "sk-test-secret" {
		t.Fatal("the variable was not set on the deployment")
	}
	unset := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/env", url.Values{"action": {"unset"}, "name": {"OPENAI_API_KEY"}}, "HX-Request", "true")
	if !strings.Contains(unset.Body, `data-name="OPENAI_API_KEY" data-state="unset"`) {
		t.Fatalf("unset:\n%s", unset.Body)
	}
	if _, ok := b.sandbox.Env(deployment)["OPENAI_API_KEY"]; ok {
		t.Fatal("the variable is still set on the deployment")
	}
	for name, form := range map[string]url.Values{
		"bad name":  {"action": {"set"}, "name": {"1BAD"}, "value": {"x"}},
		"no value":  {"action": {"set"}, "name": {"GOOD"}, "value": {""}},
		"bad verb":  {"action": {"drop"}, "name": {"GOOD"}},
		"too large": {"action": {"set"}, "name": {"BIG"}, "value": {strings.Repeat("x", 9000)}},
	} {
		if res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/env", form, "HX-Request", "true"); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d, want 422", name, res.Status)
		}
	}
	if strings.Contains(b.logs.String(), "sk-test-secret") {
		t.Fatal("an env value reached the log")
	}

	creds := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/dashboard/credentials", nil)
	if creds.Status != http.StatusOK || !strings.Contains(creds.Body, `"adminKey":"project:hopper-labs:`) {
		t.Fatalf("credentials = %d", creds.Status)
	}
	ada := webtest.Browser(t)
	b.login(t, ada, "ada")
	for _, path := range []string{"/dashboard", "/dashboard/credentials", "/env"} {
		method := "POST"
		if path == "/dashboard" {
			method = "GET"
		}
		if res := webtest.Do(t, ada, method, b.app.URL+"/apps/"+id+path, url.Values{"action": {"unset"}, "name": {"SITE_URL"}}); res.Status != http.StatusNotFound {
			t.Errorf("%s %s as another user = %d", method, path, res.Status)
		}
	}
	if res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/dashboard/credentials", nil, "Sec-Fetch-Site", "cross-site"); res.Status != http.StatusForbidden {
		t.Fatalf("a cross-site credentials request = %d, want 403", res.Status)
	}
}

func TestDeleteAppWithItsProject(t *testing.T) {
	t.Parallel()
	b, c, id, _ := connectedApp(t, "grace", "hopper-labs")
	res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/delete", url.Values{"delete_project": {"1"}})
	if res.Status != http.StatusOK || !strings.Contains(res.Body, "Deleted the Convex project hopper-labs/site-hopper-labs") {
		t.Fatalf("delete with project = %d:\n%s", res.Status, res.Body)
	}
	if n := len(b.sandbox.Projects("hopper-labs")); n != 0 {
		t.Fatalf("%d projects left", n)
	}

	// When the provision host fails, the app goes anyway and the page says what is left.
	id = b.createApp(t, c, "Second")
	b.connect(t, c, id, "hopper-labs")
	b.waitFinal(t, c, id, 5_000_000_000)
	b.sandboxDown.Store(true)
	res = webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/delete", url.Values{"delete_project": {"1"}})
	b.sandboxDown.Store(false)
	if res.Status != http.StatusOK || !strings.Contains(res.Body, "Could not delete the Convex project hopper-labs/second") {
		t.Fatalf("failed project delete not reported:\n%s", res.Body)
	}
	if res := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id, nil); res.Status != http.StatusNotFound {
		t.Fatal("the app was not deleted")
	}
	if n := len(b.sandbox.Projects("hopper-labs")); n != 1 {
		t.Fatalf("%d projects, want the one left behind", n)
	}
}
