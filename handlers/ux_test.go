package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
)

// TestDuplicateAppNameSuggestsAnother: a second app of the same name is
// created (scripts rely on that), and its page says so and offers a free
// name to rename it to; the first app's page says nothing.
func TestDuplicateAppNameSuggestsAnother(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	first := b.createApp(t, c, "Tic Tac Toe")
	second := b.createApp(t, c, "tic tac toe")
	third := b.createApp(t, c, "Tic Tac Toe")
	if page := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+first, nil); strings.Contains(page.Body, `data-testid="duplicate-name"`) {
		t.Errorf("the first app's page says its name is a duplicate")
	}
	page := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+second, nil)
	if !strings.Contains(page.Body, `data-testid="duplicate-name"`) || !strings.Contains(page.Body, `name="name" value="tic tac toe 2"`) {
		t.Fatalf("the second app's page does not offer another name:\n%s", page.Body)
	}
	// The suggestion skips a name another app has.
	if res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+second+"/rename", url.Values{"name": {"tic tac toe 2"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("rename to the suggestion = %d: %s", res.Status, res.Body)
	}
	if page := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+second, nil); strings.Contains(page.Body, `data-testid="duplicate-name"`) {
		t.Errorf("the renamed app's page still says its name is a duplicate")
	}
	page = webtest.Do(t, c, "GET", b.app.URL+"/apps/"+third, nil)
	if !strings.Contains(page.Body, `name="name" value="Tic Tac Toe 3"`) {
		t.Fatalf("the third app's page does not suggest the first free name, Tic Tac Toe 3:\n%s", page.Body)
	}
}

// TestRefusedEnvNameKeepsTheTypedName: a refused variable name comes back
// in the form, so the person can fix it; the value, maybe a secret, does
// not.
func TestRefusedEnvNameKeepsTheTypedName(t *testing.T) {
	t.Parallel()
	b, c, id, _ := connectedApp(t, "grace", "hopper-labs")
	res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/env", url.Values{"action": {"set"}, "name": {"1BAD-NAME"}, "value": {"s3cret-value"}}, "HX-Request", "true")
	if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Body, `data-testid="env-error"`) {
		t.Fatalf("a bad name = %d:\n%s", res.Status, res.Body)
	}
	if !strings.Contains(res.Body, `value="1BAD-NAME"`) {
		t.Errorf("the refused name is not kept in the form:\n%s", res.Body)
	}
	if strings.Contains(res.Body, "s3cret-value") {
		t.Errorf("the value came back in the page")
	}
}

// TestFailedConnectNextStep: a failed connect shows a plain title and the
// next step, with the contract's message kept under Details, and the
// team selector then does not preselect the team that failed.
func TestFailedConnectNextStep(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	id := b.createApp(t, c, "Quota")
	b.connect(t, c, id, "quota-reached")
	final := b.waitFinal(t, c, id, 15*time.Second)
	if stateOf(t, final.Body) != "failed" {
		t.Fatalf("not failed:\n%s", final.Body)
	}
	for _, want := range []string{`data-kind="quota"`, "Team quota-reached has no room for another project", "Open team in Convex",
		">Details</summary>", `data-testid="connection-error">Failed to create project: ProjectQuotaReached: `, "label=Choose+another+team&amp;avoid=quota-reached"} {
		if !strings.Contains(final.Body, want) {
			t.Errorf("the failed panel lacks %q:\n%s", want, final.Body)
		}
	}
	avoid := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/teams?label=Choose+another+team&avoid=quota-reached", nil, "HX-Request", "true")
	if avoid.Status != http.StatusOK || strings.Contains(avoid.Body, `value="quota-reached" selected`) || !strings.Contains(avoid.Body, "Choose another team") {
		t.Errorf("the selector after a quota failure preselects the failing team, or lacks the label:\n%s", avoid.Body)
	}
	retry := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/teams?label=Try+again", nil, "HX-Request", "true")
	if !strings.Contains(retry.Body, `value="quota-reached" selected`) {
		t.Errorf("Try again does not keep the team picked last:\n%s", retry.Body)
	}
	// A new app does not start from the team that just failed.
	fresh := b.createApp(t, c, "Fresh")
	newApp := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+fresh+"/teams?label=Connect", nil, "HX-Request", "true")
	if newApp.Status != http.StatusOK || strings.Contains(newApp.Body, `value="quota-reached" selected`) || !strings.Contains(newApp.Body, `value="" selected disabled`) {
		t.Errorf("a new app's selector preselects the team whose last attempt failed:\n%s", newApp.Body)
	}
	// Once that team connects an app, it is offered first again.
	ok := b.createApp(t, c, "Acme")
	b.connect(t, c, ok, "acme")
	b.waitFinal(t, c, ok, 15*time.Second)
	again := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+fresh+"/teams?label=Connect", nil, "HX-Request", "true")
	if !strings.Contains(again.Body, `value="acme" selected`) {
		t.Errorf("a new app's selector does not preselect the team picked last that worked:\n%s", again.Body)
	}
}

// TestNotFoundPageGivesAWayBack: a missing page names what is missing and
// links back.
func TestNotFoundPageGivesAWayBack(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	res := webtest.Do(t, c, "GET", b.app.URL+"/no-such-page", nil)
	if res.Status != http.StatusNotFound || !strings.Contains(res.Body, "Page not found") || !strings.Contains(res.Body, "There is no page at /no-such-page.") ||
		!strings.Contains(res.Body, `href="/"`) {
		t.Fatalf("404 = %d:\n%s", res.Status, res.Body)
	}
}

// TestViewSiteOnlyOnceLive: before the first live deploy there is no site
// to open, so neither the deploy panel nor the project page links it.
func TestViewSiteOnlyOnceLive(t *testing.T) {
	t.Parallel()
	b, c, id, _ := connectedApp(t, "grace", "hopper-labs")
	for _, path := range []string{"/deploys", "/dashboard"} {
		if res := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+path, nil, "HX-Request", "true"); res.Status != http.StatusOK || strings.Contains(res.Body, `data-testid="site-link"`) {
			t.Errorf("%s before any deploy = %d, with a site link:\n%s", path, res.Status, res.Body)
		}
	}
	b.upload(t, c, id, goodSite(t, "live now"))
	if panel := b.waitDeploy(t, c, id); !strings.Contains(panel, `data-testid="site-link"`) {
		t.Errorf("the deploy panel has no site link once live:\n%s", panel)
	}
	if res := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/dashboard", nil, "HX-Request", "true"); !strings.Contains(res.Body, `data-testid="site-link"`) {
		t.Errorf("the project page has no site link once live:\n%s", res.Body)
	}
}
