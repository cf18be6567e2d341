//go:build browser

package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"chefdeploy/handlers/webtest"
	"chefdeploy/models/dbtest"
)

// TestBrowserPlatformSites is issue 11's "done": in platform mode, deploy a
// zip, open "View site" on the sites port and see it; deploy again; roll
// back, and see the first site again, served by chefdeploy itself.
func TestBrowserPlatformSites(t *testing.T) {
	t.Parallel()
	deadline := time.Now().Add(90 * time.Second)
	p, sitesBase := startPlatformProduct(t)
	b := newBrowser(t, p.out, deadline)
	b.acceptDialogs()

	dir := t.TempDir()
	first := writeSiteZip(t, filepath.Join(dir, "first.zip"), "<!doctype html><title>One</title><h1>First site served by chefdeploy</h1>", 0)
	second := writeSiteZip(t, filepath.Join(dir, "second.zip"), "<!doctype html><title>Two</title><h1>Second site served by chefdeploy</h1>", 0)

	b.login(p.base, "ada")
	appID := b.createApp(p.base, "Platform Sites")
	b.authorizeTeam(p.base, appID, "ada", "acme")
	b.connect("acme", "connected")
	b.do("see the deploy form", 10*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=connection] [data-testid=deploy-form] [data-testid=bundle-input]`)))

	b.deploy(first)
	b.waitFor("the first deploy to be live", 30*time.Second,
		`document.querySelectorAll('[data-testid=deploy-row]').length === 1 &&
		 document.querySelector('[data-testid=deploy-row]').dataset.live === 'true' &&
		 !!document.querySelector('[data-testid=deploy-row] [data-testid=deploy-live]')`)
	firstID := b.newestDeployID()

	site := b.openSiteLink(sitesBase + "/")
	site.waitFor("the first site", 10*time.Second, `document.body.innerText.includes('First site served by chefdeploy')`)

	b.deploy(second)
	b.waitFor("the second deploy to be live", 30*time.Second,
		`document.querySelectorAll('[data-testid=deploy-row]').length === 2 &&
		 document.querySelector('[data-testid=deploy-row]').dataset.live === 'true' &&
		 document.querySelectorAll('[data-testid=deploy-live]').length === 1`)
	site.reloadUntil("the second site", `document.body.innerText.includes('Second site served by chefdeploy')`)

	b.do("click Roll back on the first deploy", 10*time.Second,
		chromedp.Click(chromedp.CSS(`[data-testid=deploy-row][data-deploy-id="`+firstID+`"] [data-testid=rollback]`), chromedp.NodeVisible))
	b.waitFor("the rollback to be live", 30*time.Second,
		`document.querySelectorAll('[data-testid=deploy-row]').length === 3 &&
		 document.querySelector('[data-testid=deploy-row]').dataset.live === 'true' &&
		 document.querySelectorAll('[data-testid=deploy-live]').length === 1`)
	site.reloadUntil("the first site again", `document.body.innerText.includes('First site served by chefdeploy')`)

	b.assertCleanConsole()
}

// startPlatformProduct is startProduct in platform mode, with the sites
// listener on a port of its own; it returns the sites' base URL.
func startPlatformProduct(t *testing.T) (product, string) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("no Chromium at %s (%v): run `make test-browser`", chromiumPath, err)
	}
	db, dbURL := dbtest.New(t)
	addr, sitesAddr := webtest.FreeAddr(t), webtest.FreeAddr(t)
	env := map[string]string{"DATABASE_URL": dbURL, "HTTP_ADDR": addr, "SITES_ADDR": sitesAddr, "DATA_DIR": t.TempDir(), "CONVEX_API": "platform"}
	out := &webtest.Buffer{}
	stop := start(t, env, out)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("graceful shutdown: %v", err)
		}
	})
	return product{base: "http://" + addr, db: db, out: out}, "http://" + sitesAddr
}

// authorizeTeam gives chefdeploy a grant for team through the sandbox's
// consent page (CONTRACT §3.2), coming back to the app's page.
func (b *browser) authorizeTeam(base, appID, user, team string) {
	b.t.Helper()
	userButton := `[data-testid=sandbox-user-` + user + `]`
	b.do("authorize the team "+team, 20*time.Second,
		chromedp.Navigate(base+"/teams/authorize?team="+team+"&return=/apps/"+appID),
		chromedp.WaitVisible(chromedp.CSS(userButton)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('`+userButton+`').click()`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=sandbox-team-`+team+`]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=sandbox-team-`+team+`]').checked = true`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=sandbox-authorize-team]').click()`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=app-page]`)),
	)
}
