//go:build browser

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserPlatformConnect is issue 10's walk in platform mode, the
// default of `make run`: sign in (OIDC, sandbox), authorize team acme on the
// consent page from the app's team selector, come back to the app with acme
// chosen, Connect, connected with a key made by create_deploy_key, and the
// embedded dashboard signs in with it (CONTRACT §2.1, §2.4, §3.2).
func TestBrowserPlatformConnect(t *testing.T) {
	t.Parallel()
	deadline := time.Now().Add(90 * time.Second)
	p := startProductIn(t, "platform")
	b := newBrowser(t, p.out, deadline)

	b.login(p.base, "ada")
	appID := b.createApp(p.base, "Browser Platform")

	// No grant yet: the selector offers to authorize a team.
	b.do("open the consent page", 15*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=authorize-team]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=authorize-team]').click()`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=sandbox-user-ada]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=sandbox-user-ada]').click()`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=sandbox-team-acme]`)),
	)
	b.do("authorize acme", 15*time.Second,
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=sandbox-team-acme]').click()`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=sandbox-authorize-team]').click()`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=app-page]`)),
	)
	if loc := value(b, "read the location", 5*time.Second, chromedp.Evaluate[string](`location.pathname`)); loc != "/apps/"+appID {
		b.fatalf("after authorizing, the browser is at %q, not the app", loc)
	}
	// Back on the app: the one grant is chosen already.
	b.waitFor("acme chosen", 15*time.Second,
		`(() => { const s = document.querySelector('[data-testid=team-select]'); return !!s && s.value === 'acme' })()`)
	b.connect("acme", "connected")

	var keyName string
	if err := p.db.Get(&keyName, `SELECT deploy_key_name FROM connections WHERE app_id = $1`, appID); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(keyName, "chefdeploy-"+appID+"-") {
		b.fatalf("the deploy key is named %q, not after the app", keyName)
	}

	b.do("open the project page", 15*time.Second,
		chromedp.Click(chromedp.CSS(`[data-testid=project-page-link]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=project-dashboard]`)),
	)
	deployment := value(b, "read the deployment name", 5*time.Second, chromedp.Text(chromedp.CSS(`[data-testid=deployment-name]`)))
	b.frameSignedIn(p.base, "data", deployment, []string{"JWKS", "JWT_PRIVATE_KEY", "SITE_URL"})
	b.assertCleanConsole()
}
