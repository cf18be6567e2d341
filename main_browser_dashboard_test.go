//go:build browser

package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserProjectDashboard opens a connected app's project page: the
// framed Convex dashboard signing in with the credentials the page hands
// only to it (CONTRACT §2.4), the variables chefdeploy set, setting one
// more, and the page switcher.
func TestBrowserProjectDashboard(t *testing.T) {
	t.Parallel()
	deadline := time.Now().Add(60 * time.Second)
	p := startProduct(t)
	b := newBrowser(t, p.out, deadline)

	b.login(p.base, "ada")
	appID := b.createApp(p.base, "Browser Project Page")
	b.connect("acme", "connected")

	b.do("open the project page", 15*time.Second,
		chromedp.Click(chromedp.CSS(`[data-testid=project-page-link]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=project-dashboard]`)),
	)

	// The framed dashboard (CONTRACT §2.4) is the sandbox's embeddable one,
	// at {CONVEX_DASHBOARD_EMBED_URL}/data by default. It asks the page for
	// credentials, checks them on the deployment and lists the variable
	// names (those connecting set: it signed in before the one set below).
	// It is served at the product's origin in sandbox mode, so the
	// page can read the frame's document.
	deployment := value(b, "read the deployment name", 5*time.Second, chromedp.Text(chromedp.CSS(`[data-testid=deployment-name]`)))
	b.frameSignedIn(p.base, "data", deployment, []string{"JWKS", "JWT_PRIVATE_KEY", "SITE_URL"})

	// Connecting set the auth variables; values are never shown.
	for _, name := range []string{"JWT_PRIVATE_KEY", "JWKS", "SITE_URL"} {
		b.waitFor(name+" listed as set", 5*time.Second,
			`!!document.querySelector('[data-testid=env-var][data-name=`+name+`][data-state=set]')`)
	}

	// Set one more through the form; HTMX swaps the list.
	const name = "BROWSER_TEST_FLAG"
	b.do("set "+name, 10*time.Second,
		chromedp.SendKeys(chromedp.CSS(`[data-testid=env-name]`), name, chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=env-value]`), "on", chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS(`[data-testid=set-env]`), chromedp.NodeVisible),
	)
	b.waitFor(name+" listed as set", 10*time.Second,
		`!!document.querySelector('[data-testid=env-var][data-name=`+name+`][data-state=set]') &&
		 !!document.querySelector('[data-testid=env-message]')`)
	for _, other := range []string{"JWT_PRIVATE_KEY", "JWKS", "SITE_URL"} {
		if !b.eval(`!!document.querySelector('[data-testid=env-var][data-name=` + other + `][data-state=set]')`) {
			b.fatalf("%s is no longer listed as set after setting %s", other, name)
		}
	}

	// The page switcher frames another page, named in the URL; it signs in
	// again and now lists the variable set above.
	b.do("switch to the logs page", 15*time.Second,
		chromedp.Click(chromedp.CSS(`[data-testid=dashboard-page][data-page=logs]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=dashboard-page][data-page=logs][aria-current=page]`)),
	)
	if loc := value(b, "read the location", 5*time.Second, chromedp.Evaluate[string](`location.pathname + location.search`)); loc != "/apps/"+appID+"/dashboard?page=logs" {
		b.fatalf("the switcher went to %q", loc)
	}
	b.frameSignedIn(p.base, "logs", deployment, []string{"JWKS", "JWT_PRIVATE_KEY", "SITE_URL", name})

	// A request that does not come from the frame gets nothing: the page
	// does not fetch the credentials, so no reveal is recorded.
	before := revealedCount(t, p, appID)
	if before < 1 {
		b.fatalf("no deploy_key_revealed event for the frame's own request, so the count proves nothing")
	}
	b.do("post a credentials request from the page itself", 5*time.Second,
		chromedp.Evaluate[chromedp.Void](`window.postMessage({type: "dashboard-credentials-request"}, "*")`))
	// Nothing to wait for when nothing happens: give a wrong answer the time
	// it would need (a same-origin fetch takes a few ms here).
	time.Sleep(500 * time.Millisecond)
	if after := revealedCount(t, p, appID); after != before {
		b.fatalf("a credentials request from the page itself revealed the deploy key: %d deploy_key_revealed events before, %d after", before, after)
	}

	b.assertCleanConsole()
}

// frameSignedIn waits for the framed dashboard, at page, to sign in to
// deployment with the credentials the page handed it, and checks it lists
// exactly the variable names wantEnv (never values).
func (b *browser) frameSignedIn(base, page, deployment string, wantEnv []string) {
	b.t.Helper()
	const frame = `document.querySelector('[data-testid=dashboard-frame]')`
	const doc = frame + `.contentDocument`
	b.waitFor("the framed "+page+" page to sign in", 15*time.Second,
		doc+`?.querySelector('[data-testid=sandbox-embed-page]')?.textContent === '`+page+`' &&
		 `+doc+`?.querySelector('[data-testid=sandbox-embed-status]')?.dataset.signedIn === 'true'`)
	if src := value(b, "read the frame's address", 5*time.Second, chromedp.Evaluate[string](frame+`.src`)); src != base+"/sandbox/dashboard-embedded/"+page {
		b.fatalf("the frame is at %q, want %s/sandbox/dashboard-embedded/%s", src, base, page)
	}
	status := value(b, "read the frame's status", 5*time.Second, chromedp.Evaluate[string](doc+`.querySelector('[data-testid=sandbox-embed-status]').textContent.trim()`))
	if want := "Signed in to " + deployment + " with the app's deploy key."; status != want {
		b.fatalf("the frame says %q, want %q", status, want)
	}
	shown := value(b, "read the frame's deployment", 5*time.Second, chromedp.Evaluate[string](doc+`.querySelector('[data-testid=sandbox-embed-deployment]').textContent`))
	if shown != deployment {
		b.fatalf("the frame shows the deployment %q, want %q", shown, deployment)
	}
	names := value(b, "read the frame's variables", 5*time.Second, chromedp.Evaluate[[]string](
		`Array.from(`+doc+`.querySelectorAll('[data-testid=sandbox-embed-env] li'), li => li.textContent)`))
	want := slices.Sorted(slices.Values(wantEnv))
	if !slices.Equal(names, want) {
		b.fatalf("the frame lists the variables %q, want %q", names, want)
	}
}

// revealedCount is how many times the app's deploy key was revealed.
func revealedCount(t *testing.T, p product, appID string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int
	if err := p.db.GetContext(ctx, &n, `SELECT count(*) FROM events WHERE app_id = $1 AND kind = 'deploy_key_revealed'`, appID); err != nil {
		t.Fatalf("counting deploy_key_revealed events: %v", err)
	}
	return n
}
