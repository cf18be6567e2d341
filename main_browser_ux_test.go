//go:build browser

package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// axePath is axe-core, an npm devDependency like HTMX. It is injected into
// the page by the test only; the product never serves it.
const axePath = "node_modules/axe-core/axe.min.js"

// viewport is one screen size the pages are checked at.
type viewport struct {
	name          string
	width, height int64
}

var viewports = []viewport{{"desktop", 1280, 900}, {"phone", 390, 844}}

// TestBrowserAccessibility runs axe-core on every main page (landing signed
// out, dashboard, an app connecting, connected with a deploy, failed,
// settings, support) at desktop and phone size, and fails on any serious or
// critical violation. At phone size no page may scroll sideways. Screenshots
// of each page at both sizes go to $UX_SCREENSHOTS (default: a folder in the
// temporary directory), for people to look at.
func TestBrowserAccessibility(t *testing.T) {
	t.Parallel()
	axe, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatalf("reading axe-core (run `make generate`, which installs the npm devDependencies): %v", err)
	}
	shots := os.Getenv("UX_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(os.TempDir(), "chefdeploy-ux")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	site := writeSiteZip(t, filepath.Join(t.TempDir(), "site.zip"), "<!doctype html><title>A11y</title><h1>Site</h1>", 0)
	p := startProduct(t)
	for _, vp := range viewports {
		t.Run(vp.name, func(t *testing.T) {
			t.Parallel()
			a := &a11yCheck{t: t, axe: string(axe), vp: vp, shots: shots}
			b := newBrowser(t, p.out, time.Now().Add(240*time.Second))
			b.acceptDialogs()
			b.do("set the viewport", 5*time.Second, chromedp.EmulateViewport(vp.width, vp.height))

			b.do("open the landing page", 10*time.Second,
				chromedp.Navigate(p.base+"/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=landing]`)))
			a.check(b, "landing")

			b.login(p.base, "ada")
			b.createApp(p.base, "A11y Tic Tac Toe "+vp.name)
			b.do("open the dashboard", 10*time.Second,
				chromedp.Navigate(p.base+"/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=app-row]`)))
			a.check(b, "dashboard")
			if vp.name == "phone" {
				// Below sm the account links are in a menu, which Escape closes.
				if b.eval(`getComputedStyle(document.querySelector('[data-testid=account]')).display !== 'none'`) {
					b.fatalf("the desktop account row shows at phone size")
				}
				b.do("open the account menu", 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid=account-menu-toggle]`), chromedp.NodeVisible),
					chromedp.WaitVisible(chromedp.CSS(`[data-testid=menu-logout]`)))
				a.check(b, "dashboard-menu")
				b.do("press Escape", 5*time.Second, chromedp.KeyEvent(kb.Escape))
				b.waitFor("the account menu closed", 5*time.Second, `!document.querySelector('[data-testid=account-menu]').open`)
			}

			b.createApp(p.base, "A11y Slow "+vp.name)
			a.check(b, "app-new")
			b.connect("slow", "connecting")
			b.waitFor("an active step", 10*time.Second,
				`!!document.querySelector('[data-testid=connection][data-state=connecting] [data-testid=step][data-status=active]')`)
			a.check(b, "app-connecting")
			b.waitFor("the connected state", 20*time.Second,
				`!!document.querySelector('[data-testid=connection][data-state=connected]')`)
			b.do("see the deploy form", 10*time.Second,
				chromedp.WaitVisible(chromedp.CSS(`[data-testid=deploy-form] [data-testid=bundle-input]`)))
			b.deploy(site)
			b.waitFor("the live deploy", 20*time.Second,
				`!!document.querySelector('[data-testid=deploy-row][data-status=live]')`)
			a.check(b, "app-connected")
			b.do("open the project page", 10*time.Second,
				chromedp.Click(chromedp.CSS(`[data-testid=project-page-link]`), chromedp.NodeVisible),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid=env-vars]`)))
			a.check(b, "project")

			b.createApp(p.base, "A11y Quota "+vp.name)
			b.connect("quota-reached", "failed")
			if title := value(b, "read the failure's title", 5*time.Second, chromedp.Text(chromedp.CSS(`[data-testid=failure-title]`))); title != "Team quota-reached has no room for another project" {
				b.fatalf("the failure's title reads %q", title)
			}
			a.check(b, "app-failed")

			b.do("open settings", 10*time.Second,
				chromedp.Navigate(p.base+"/settings"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=settings]`)))
			a.check(b, "settings")

			sam := newBrowser(t, p.out, time.Now().Add(60*time.Second))
			sam.do("set the viewport", 5*time.Second, chromedp.EmulateViewport(vp.width, vp.height))
			sam.login(p.base, "sam")
			sam.do("open support", 10*time.Second,
				chromedp.Navigate(p.base+"/support"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=support-row]`)))
			a.check(sam, "support")
			sam.do("open an app in support", 10*time.Second,
				chromedp.Click(chromedp.CSS(`[data-testid=support-row] a`), chromedp.NodeVisible),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid=support-app]`)))
			a.check(sam, "support-app")

			b.do("open a missing page", 10*time.Second,
				chromedp.Navigate(p.base+"/no-such-page"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=error]`)))
			a.check(b, "not-found")

			if len(a.failures) > 0 {
				t.Errorf("%s:\n%s", vp.name, strings.Join(a.failures, "\n"))
			}
		})
	}
}

// a11yCheck runs axe-core and the sideways-scroll check on pages at one
// viewport, and collects what it finds.
type a11yCheck struct {
	t        *testing.T
	axe      string
	vp       viewport
	shots    string
	failures []string
}

// axeViolation is one rule axe-core found broken, with the nodes that break it.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Nodes  []string `json:"nodes"`
}

func (a *a11yCheck) check(b *browser, page string) {
	a.t.Helper()
	b.screenshotTo(filepath.Join(a.shots, page+"-"+a.vp.name+".png"))
	if !value(b, "inject axe-core", 10*time.Second, chromedp.Evaluate[bool](`(window.axe || (function(){`+a.axe+`})(), !!window.axe)`)) {
		b.fatalf("axe-core did not load into %s", page)
	}
	report := value(b, "run axe-core on "+page, 30*time.Second, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + n.failureSummary.replace(/\s+/g, ' '))}))))`, chromedp.EvalAwaitPromise))
	var violations []axeViolation
	if err := json.Unmarshal([]byte(report), &violations); err != nil {
		b.fatalf("reading axe-core's report %q: %v", report, err)
	}
	for _, v := range violations {
		a.t.Logf("axe %s %s: %s %s (%d nodes)", a.vp.name, page, v.Impact, v.ID, len(v.Nodes))
		if v.Impact == "serious" || v.Impact == "critical" {
			a.failures = append(a.failures, page+": "+v.Impact+" "+v.ID+"\n    "+strings.Join(v.Nodes, "\n    "))
		}
	}
	width := value(b, "read the page's width", 5*time.Second, chromedp.Evaluate[int64](`document.scrollingElement.scrollWidth`))
	if width > a.vp.width {
		wide := value(b, "find what is too wide", 5*time.Second, chromedp.Evaluate[string](
			`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > `+strconv.FormatInt(a.vp.width, 10)+`).slice(-5).map(e => e.tagName + '.' + e.className + ' ' + (e.dataset.testid || '')).join('; ')`))
		a.failures = append(a.failures, page+": scrolls sideways to "+strconv.FormatInt(width, 10)+" px (wide: "+wide+")")
	}
}

// screenshotTo saves the whole page to path, for people to look at.
func (b *browser) screenshotTo(path string) {
	b.t.Helper()
	png := value(b, "take a screenshot", 10*time.Second, chromedp.FullScreenshot(100))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("saving the screenshot: %v", err)
	}
}

// TestBrowserKeyboardOnly goes from a new app through connect to a deploy
// with the keyboard alone (only the file is chosen by the test, since the
// file chooser is the system's): after each action the updated panel's
// heading has the focus, the page's live region says what changed, and
// Escape closes a popover.
func TestBrowserKeyboardOnly(t *testing.T) {
	t.Parallel()
	p := startProduct(t)
	b := newBrowser(t, p.out, time.Now().Add(90*time.Second))
	site := writeSiteZip(t, filepath.Join(t.TempDir(), "site.zip"), "<!doctype html><title>Keys</title><h1>Keyboard</h1>", 0)
	b.login(p.base, "ada")

	// Create the app: Tab to the name field, type, Enter.
	b.tabTo(`[data-testid=new-app-name]`, 20)
	b.do("type the app's name and press Enter", 10*time.Second,
		chromedp.KeyEvent("Keyboard App"), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=app-page]`)))

	// Escape closes the rename popover and gives the focus back to its toggle.
	b.tabTo(`[data-testid=rename-toggle]`, 20)
	b.do("open Rename", 5*time.Second, chromedp.KeyEvent(kb.Enter))
	b.waitFor("the rename popover open", 5*time.Second, `document.querySelector('[data-testid=rename-toggle]').parentElement.open`)
	b.do("press Escape", 5*time.Second, chromedp.KeyEvent(kb.Escape))
	b.waitFor("the rename popover closed, its toggle focused", 5*time.Second,
		`!document.querySelector('[data-testid=rename-toggle]').parentElement.open && document.activeElement === document.querySelector('[data-testid=rename-toggle]')`)

	// Connect: Tab to the team, type its name to pick it, Tab to Connect, Enter.
	b.do("wait for the team selector", 15*time.Second, chromedp.WaitVisible(chromedp.CSS(`[data-testid=team-select]`)))
	b.tabTo(`[data-testid=team-select]`, 20)
	b.do("pick acme by typing", 5*time.Second, chromedp.KeyEvent("acme"))
	b.waitFor("acme chosen and Connect enabled", 5*time.Second,
		`document.querySelector('[data-testid=team-select]').value === 'acme' && !document.querySelector('[data-testid=connect-button]').disabled`)
	b.tabTo(`[data-testid=connect-button]`, 3)
	b.do("press Enter on Connect", 5*time.Second, chromedp.KeyEvent(kb.Enter))
	b.waitFor("the connected state", 20*time.Second, `!!document.querySelector('[data-testid=connection][data-state=connected]')`)
	b.waitFor("the focus on the connection's heading", 5*time.Second, `document.activeElement && document.activeElement.id === 'connection-heading'`)
	b.waitFor("the live region saying it connected", 5*time.Second,
		`document.getElementById('announcer').textContent.startsWith('Connected to Convex project ')`)
	if b.eval(`!!document.querySelector('[data-testid=connection][aria-live]')`) {
		b.fatalf("the polled connection panel is itself a live region")
	}

	// Reveal the deploy key: the focus goes to the env panel's heading.
	b.do("wait for the deploy form", 10*time.Second, chromedp.WaitVisible(chromedp.CSS(`[data-testid=bundle-input]`)))
	b.tabTo(`[data-testid=reveal-key]`, 10)
	b.do("press Enter on Reveal", 5*time.Second, chromedp.KeyEvent(kb.Enter))
	b.waitFor("the focus on the env panel's heading after Reveal", 10*time.Second,
		`!document.querySelector('[data-testid=reveal-key]') && document.activeElement && document.activeElement.id.startsWith('env-heading-')`)

	// Deploy: from the env heading, the file input is a few Tabs away.
	if n := b.tabTo(`[data-testid=bundle-input]`, 8); n > 8 {
		b.fatalf("the file input took %d Tabs", n)
	}
	b.do("choose the bundle", 5*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS(`[data-testid=bundle-input]`), []string{site}))
	b.tabTo(`[data-testid=deploy-button]`, 3)
	b.do("press Enter on Deploy", 5*time.Second, chromedp.KeyEvent(kb.Enter))
	b.waitFor("the live deploy", 20*time.Second, `!!document.querySelector('[data-testid=deploy-row][data-status=live]')`)
	b.waitFor("the focus on the deploy panel's heading", 5*time.Second, `document.activeElement && document.activeElement.id === 'deploys-heading'`)
	b.waitFor("the live region saying the deploy is live", 5*time.Second,
		`/live/.test(document.getElementById('announcer').textContent)`)
	b.assertCleanConsole()
}

// TestBrowserHonestProgress connects to a team that never answers: the
// panel shows the step in words and the elapsed time, after 5 s the line
// that Convex is slow, and the page's live region changes only with the
// step, not at every poll.
func TestBrowserHonestProgress(t *testing.T) {
	t.Parallel()
	p := startProduct(t)
	b := newBrowser(t, p.out, time.Now().Add(60*time.Second))
	b.login(p.base, "ada")
	b.createApp(p.base, "Black Hole")
	b.do("count the live region's changes", 5*time.Second, chromedp.Evaluate[chromedp.Void](`
		window.__announcements = [];
		new MutationObserver(() => window.__announcements.push(document.getElementById('announcer').textContent))
			.observe(document.getElementById('announcer'), {childList: true, characterData: true, subtree: true});`))
	b.connect("black-hole", "connecting")
	// Connect moved the focus to the panel's heading; the polls that
	// follow keep that very element, so the focus neither moves nor is
	// announced again every second.
	b.waitFor("the focus on the connection's heading", 5*time.Second, `document.activeElement?.id === 'connection-heading'`)
	b.do("count focus changes", 5*time.Second, chromedp.Evaluate[chromedp.Void](`
		window.__focusins = 0; document.activeElement.__kept = true;
		document.addEventListener('focusin', () => window.__focusins++);`))
	b.waitFor("the step in words", 5*time.Second,
		`/^(Waiting to start|Creating project)…$/.test(document.querySelector('[data-testid=progress-step]').textContent.trim())`)
	first := value(b, "read the elapsed time", 5*time.Second, chromedp.Text(chromedp.CSS(`[data-testid=elapsed]`)))
	b.waitFor("the slow line after 5 s", 10*time.Second,
		`document.querySelector('[data-testid=slow-notice]')?.textContent.trim() === 'Convex is slow to answer; we wait up to 15 s.'`)
	if later := value(b, "read the elapsed time", 5*time.Second, chromedp.Text(chromedp.CSS(`[data-testid=elapsed]`))); later == first || !strings.HasSuffix(later, " s elapsed") {
		b.fatalf("the elapsed time reads %q, then %q", first, later)
	}
	if !b.eval(`window.__focusins === 0 && document.activeElement.__kept === true`) {
		b.fatalf("the focus moved while the panel polled (%s focus changes)", value(b, "count", 5*time.Second, chromedp.Evaluate[string](`String(window.__focusins)`)))
	}
	said := value(b, "read the announcements", 5*time.Second, chromedp.Evaluate[[]string](`window.__announcements`))
	if len(said) == 0 || len(said) > 3 {
		b.fatalf("the live region changed %d times in 5 s of polling, want once per step: %q", len(said), said)
	}
	if b.eval(`document.querySelector('[data-testid=progress]').getAttribute('aria-label') !== 'Connecting to Convex'`) {
		b.fatalf("the progress bar has no name")
	}
	b.assertCleanConsole()
}

// tabTo presses Tab until the element matching selector has the focus, at
// most limit times, and returns how many Tabs it took.
func (b *browser) tabTo(selector string, limit int) int {
	b.t.Helper()
	for n := 1; n <= limit; n++ {
		b.do("press Tab", 5*time.Second, chromedp.KeyEvent(kb.Tab))
		if b.eval(`!!document.activeElement && document.activeElement.matches(` + jsString(selector) + `)`) {
			return n
		}
	}
	focused := value(b, "read the focused element", 5*time.Second, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.outerHTML.slice(0, 200) : 'none'`))
	b.fatalf("%d Tabs did not reach %s (the focus is on %s)", limit, selector, focused)
	return limit + 1
}

// TestBrowserDropZone drops a zip on the deploy form's drop zone, as a
// person drags it from their files, and deploys it.
func TestBrowserDropZone(t *testing.T) {
	t.Parallel()
	p := startProduct(t)
	b := newBrowser(t, p.out, time.Now().Add(60*time.Second))
	zipBytes, err := os.ReadFile(writeSiteZip(t, filepath.Join(t.TempDir(), "dropped.zip"), "<!doctype html><title>Drop</title><h1>Dropped</h1>", 0))
	if err != nil {
		t.Fatal(err)
	}
	b.login(p.base, "ada")
	b.createApp(p.base, "Dropped Site")
	b.connect("acme", "connected")
	b.do("see the drop zone", 10*time.Second, chromedp.WaitVisible(chromedp.CSS(`[data-testid=dropzone]`)))
	b.do("drop the zip", 5*time.Second, chromedp.Evaluate[chromedp.Void](`(() => {
		const bytes = Uint8Array.from(atob(`+jsString(base64.StdEncoding.EncodeToString(zipBytes))+`), c => c.charCodeAt(0));
		const data = new DataTransfer();
		data.items.add(new File([bytes], 'dropped.zip', {type: 'application/zip'}));
		const zone = document.querySelector('[data-testid=dropzone]');
		zone.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: data}));
		zone.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: data}));
	})()`))
	if !b.eval(`document.querySelector('[data-testid=bundle-input]').files[0]?.name === 'dropped.zip'`) {
		b.fatalf("the dropped file is not in the file input")
	}
	b.do("click Deploy", 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid=deploy-button]`), chromedp.NodeEnabled))
	b.waitFor("the live deploy", 20*time.Second, `!!document.querySelector('[data-testid=deploy-row][data-status=live]')`)
	b.assertCleanConsole()
}
