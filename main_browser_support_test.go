//go:build browser

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserSupportConsole has Ada fail one connection and make another,
// then Sam, who is in the sandbox's support team, finds the failed one in
// the support console and reads why it failed. Ada, a plain user, is
// refused the console.
func TestBrowserSupportConsole(t *testing.T) {
	t.Parallel()
	deadline := time.Now().Add(60 * time.Second)
	p := startProduct(t)
	ada := newBrowser(t, p.out, deadline)

	ada.login(p.base, "ada")
	failedID := ada.createApp(p.base, "Browser Quota App")
	ada.connect("quota-reached", "failed")
	connectedID := ada.createApp(p.base, "Browser Acme App")
	ada.connect("acme", "connected")

	// Ada is not support staff: no link in the header, and a 403 page.
	if ada.eval(`!!document.querySelector('[data-testid=support-link]')`) {
		ada.fatalf("Ada's header links to the support console")
	}
	ada.do("open /support as Ada", 10*time.Second,
		chromedp.Navigate(p.base+"/support"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=error]`)),
	)
	if status := value(ada, "read the error's status", 5*time.Second, chromedp.Evaluate[string](
		`document.querySelector('[data-testid=error]').dataset.status`)); status != "403" {
		ada.fatalf("Ada got an error page with status %s at /support, want 403", status)
	}
	if ada.eval(`!!document.querySelector('[data-testid=support]')`) {
		ada.fatalf("Ada sees the support console")
	}
	// Chromium logs a page answered with an error status; that one is meant.
	ada.expectConsole("log network/error: Failed to load resource: the server responded with a status of 403 (Forbidden) (" + p.base + "/support)")
	ada.assertCleanConsole()

	// Sam signs in in a browser of his own (a separate profile).
	sam := newBrowser(t, p.out, deadline)
	sam.login(p.base, "sam")
	sam.do("open the support console from the header", 10*time.Second,
		chromedp.Click(chromedp.CSS(`[data-testid=support-link]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=support]`)),
	)
	sam.waitFor("both of Ada's apps listed", 5*time.Second,
		`!!document.querySelector('[data-testid=support-row][data-app-id="`+failedID+`"]') &&
		 !!document.querySelector('[data-testid=support-row][data-app-id="`+connectedID+`"]')`)

	// Filter by state: a GET form, so the page reloads with ?state=failed.
	sam.do("filter by Failed", 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#support-state`), "failed", chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS(`[data-testid=support-apply]`), chromedp.NodeVisible),
	)
	sam.waitFor("only the failed app listed", 10*time.Second,
		`new URLSearchParams(location.search).get('state') === 'failed' &&
		 document.readyState === 'complete' &&
		 document.querySelectorAll('[data-testid=support-row]').length === 1 &&
		 !!document.querySelector('[data-testid=support-row][data-app-id="`+failedID+`"][data-state=failed]')`)
	if sam.eval(`document.querySelector('#support-state').value !== 'failed'`) {
		sam.fatalf("the state filter does not show the chosen state after filtering")
	}

	// Open the failed app: its error and its history.
	sam.do("open the failed app", 10*time.Second,
		chromedp.Click(chromedp.CSS(`[data-testid=support-row][data-app-id="`+failedID+`"] a`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=support-app]`)),
	)
	const wantError = "Failed to create project: ProjectQuotaReached: "
	if got := strings.TrimSpace(value(sam, "read the app's error", 5*time.Second, chromedp.Text(chromedp.CSS(`[data-testid=support-app-error]`)))); !strings.HasPrefix(got, wantError) || len(got) == len(wantError) {
		sam.fatalf("the app's error reads %q, want %q followed by the reason", got, wantError+"…")
	}
	if state := value(sam, "read the app's state", 5*time.Second, chromedp.Evaluate[string](
		`document.querySelector('[data-testid=support-state]').dataset.state`)); state != "failed" {
		sam.fatalf("the app's state is %q, want failed", state)
	}
	for _, kind := range []string{"app_created", "connect_started", "connect_failed"} {
		if !sam.eval(`!!document.querySelector('[data-testid=support-history] [data-testid=event][data-kind=` + kind + `]')`) {
			sam.fatalf("the history lacks the %s event", kind)
		}
	}
	sam.assertCleanConsole()
}
