//go:build browser

package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserProjectDashboard opens a connected app's project page: the
// variables chefdeploy set, setting one more, and the framed Convex
// dashboard signing in with the credentials the page hands only to it.
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

	// The framed dashboard asks the page for credentials and signs in with
	// them. It is served at the product's origin in sandbox mode, so the
	// page can read the frame's document.
	const embedStatus = `document.querySelector('[data-testid=dashboard-frame]').contentDocument?.querySelector('[data-testid=sandbox-embed-status]')`
	b.waitFor("the framed dashboard to sign in", 15*time.Second, embedStatus+`?.dataset.signedIn === 'true'`)
	status := value(b, "read the frame's status", 5*time.Second, chromedp.Evaluate[string](embedStatus+`.textContent.trim()`))
	deployment := value(b, "read the deployment name", 5*time.Second, chromedp.Text(chromedp.CSS(`[data-testid=deployment-name]`)))
	if want := "Signed in to " + deployment + " with the app's deploy key."; status != want {
		b.fatalf("the frame says %q, want %q", status, want)
	}

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
