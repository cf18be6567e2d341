//go:build browser

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/jmoiron/sqlx"

	"chefdeploy/handlers/webtest"
	"chefdeploy/models/dbtest"
)

// chromiumPath is Debian's Chromium, which `make test-browser` installs.
const chromiumPath = "/usr/bin/chromium"

// TestBrowserConnectFlow drives a real headless Chromium through what a
// person clicks: log in with the sandbox, create an app, pick a team, watch
// the connection's steps, reveal the deploy key — all without a reload, and
// without a CSP violation or a JavaScript error in the console.
func TestBrowserConnectFlow(t *testing.T) {
	t.Parallel()
	p := startProduct(t)
	b := newBrowser(t, p.out, time.Now().Add(60*time.Second))

	// Sign in: landing page → the sandbox's sign-in page → the dashboard.
	b.login(p.base, "ada")
	if dash := value(b, "read the dashboard", 5*time.Second, chromedp.Text(chromedp.CSS(`[data-testid=dashboard]`))); !strings.Contains(dash, "Ada Lovelace") {
		b.fatalf("the dashboard does not show Ada's name: %q", dash)
	}

	// Create an app; the form posts and redirects to the app's page.
	const appName = "Browser Tic Tac Toe"
	b.createApp(p.base, appName)
	if name := value(b, "read the app's name", 5*time.Second, chromedp.Text(chromedp.CSS(`[data-testid=app-name]`))); strings.TrimSpace(name) != appName {
		b.fatalf("app page is for %q, want %q", name, appName)
	}
	// From here on every change must come from HTMX: a reload loses the marker.
	b.do("mark the page", 5*time.Second, chromedp.Evaluate[chromedp.Void](`window.__marker = 1`))

	// HTMX loads the team selector; Connect stays disabled until a team is picked.
	b.do("wait for the team selector", 15*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=team-select]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=connect-button]`)),
	)
	if !b.eval(`document.querySelector('[data-testid=team-select]').form?.dataset.testid === 'connect-form'`) {
		b.fatalf("the team selector is not inside the connect form, so Connect cannot send the team")
	}
	if !b.eval(`document.querySelector('[data-testid=connect-button]').disabled`) {
		b.fatalf("Connect is enabled before a team is chosen")
	}
	if !b.eval(`!!document.querySelector('[data-testid=team-select] option[value=slow]')`) {
		b.fatalf("Ada's team selector does not offer the team slow")
	}
	// SetValue sets the value and then dispatches real input and change
	// events, which is what app.js listens for.
	b.do("choose the team slow", 5*time.Second,
		chromedp.SetValue(chromedp.CSS(`[data-testid=team-select]`), "slow"),
	)
	b.do("wait for Connect to be enabled", 5*time.Second,
		chromedp.WaitEnabled(chromedp.CSS(`[data-testid=connect-button]`)),
	)
	b.do("click Connect", 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid=connect-button]`)))

	// The slow team answers create_project after 3 s, so the steps are seen.
	b.waitFor("the connecting state", 10*time.Second,
		`!!document.querySelector('[data-testid=connection][data-state=connecting]')`)
	b.waitFor("an active step", 10*time.Second,
		`!!document.querySelector('[data-testid=connection][data-state=connecting] [data-testid=step][data-status=active]')`)
	b.waitFor("the connected state", 20*time.Second,
		`!!document.querySelector('[data-testid=connection][data-state=connected]')`)
	b.do("see the connected panel", 5*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=dashboard-link]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=env-setup]`)),
	)
	b.screenshot(filepath.Join(os.TempDir(), "chefdeploy-connected.png"))

	const keyPrefix = "CONVEX_DEPLOY_KEY=project:slow:"
	if lines := b.envLines(); strings.Contains(lines, "project:slow:") {
		b.fatalf("the deploy key is shown before it is revealed:\n%s", lines)
	}
	b.do("reveal the deploy key", 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid=reveal-key]`), chromedp.NodeVisible))
	b.waitFor("the revealed deploy key", 10*time.Second,
		`[...document.querySelectorAll('[data-testid=env-lines]')].some(el => el.innerText.split('\n').some(l => l.trim().startsWith('`+keyPrefix+`')))`)
	found := false
	for line := range strings.SplitSeq(b.envLines(), "\n") {
		found = found || strings.HasPrefix(strings.TrimSpace(line), keyPrefix)
	}
	if !found {
		b.fatalf("no line starting with %s in env-lines:\n%s", keyPrefix, b.envLines())
	}

	if !b.eval(`window.__marker === 1`) {
		b.fatalf("the page reloaded during the flow (window.__marker is gone)")
	}
	b.assertCleanConsole()
}

// product is one running chefdeploy in sandbox mode, on its own database.
type product struct {
	base string          // http://127.0.0.1:port
	db   *sqlx.DB        // the product's database, for what a page cannot show
	out  *webtest.Buffer // what the server logged
}

// startProduct runs `chefdeploy serve` the way `make run` does (the sandbox
// mounted at /sandbox) on a fresh database in builder mode, and stops it
// when the test ends.
func startProduct(t *testing.T) product {
	t.Helper()
	return startProductIn(t, "builder")
}

// startProductIn is startProduct in the CONVEX_API mode given.
func startProductIn(t *testing.T, mode string) product {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("no Chromium at %s (%v): run `make test-browser`, which installs Debian's chromium package", chromiumPath, err)
	}
	db, dbURL := dbtest.New(t)
	addr := webtest.FreeAddr(t)
	env := map[string]string{"DATABASE_URL": dbURL, "HTTP_ADDR": addr, "DATA_DIR": t.TempDir(), "CONVEX_API": mode}
	out := &webtest.Buffer{}
	stop := start(t, env, out)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("graceful shutdown: %v", err)
		}
	})
	return product{base: "http://" + addr, db: db, out: out}
}

// login signs in from the landing page through the sandbox's sign-in page,
// as the sandbox user with that key (ada, grace, sam), and waits for the
// dashboard.
func (b *browser) login(base, user string) {
	b.t.Helper()
	button := `[data-testid=sandbox-user-` + user + `]`
	b.do("log in as "+user, 20*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.Click(chromedp.CSS(`[data-testid=login]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(button)),
		// Clicked by script, not by mouse: a mouse click lands on the
		// coordinates the button had when it was found, and the sign-in
		// page can still move as its stylesheet arrives, so the click was
		// sometimes lost and the login never sent.
		chromedp.Evaluate[chromedp.Void](`document.querySelector('`+button+`').click()`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=dashboard]`)),
	)
}

// createApp creates an app from the dashboard's form and returns its id once
// its page shows.
func (b *browser) createApp(base, name string) (appID string) {
	b.t.Helper()
	b.do("create the app "+name, 20*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=new-app-name]`), name, chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS(`[data-testid=create-app]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=app-page]`)),
	)
	id := value(b, "read the app's id", 5*time.Second, chromedp.Evaluate[string](
		`document.querySelector('[data-testid=app-page]').dataset.appId`))
	if id == "" {
		b.fatalf("the app page of %s has no data-app-id", name)
	}
	return id
}

// connect picks team in the app page's team selector, clicks Connect and
// waits until the connection panel reaches the final state want
// ("connected" or "failed").
func (b *browser) connect(team, want string) {
	b.t.Helper()
	b.do("wait for the team selector", 15*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=team-select]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=connect-button]`)),
	)
	b.do("choose the team "+team, 5*time.Second,
		chromedp.SetValue(chromedp.CSS(`[data-testid=team-select]`), team),
		chromedp.WaitEnabled(chromedp.CSS(`[data-testid=connect-button]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=connect-button]`)),
	)
	b.waitFor("the "+want+" state after connecting to "+team, 20*time.Second,
		`!!document.querySelector('[data-testid=connection][data-state=`+want+`]')`)
}

// assertCleanConsole fails the test when the console reported a CSP
// violation, an exception or an error.
func (b *browser) assertCleanConsole() {
	b.t.Helper()
	if problems := b.consoleProblems(); len(problems) > 0 {
		b.fatalf("the browser console reported problems:\n%s", strings.Join(problems, "\n"))
	}
}

// browser is a headless Chromium tab, with what its console reported and
// what the server logged, for the failure message.
type browser struct {
	t         *testing.T
	ctx       context.Context
	serverOut *webtest.Buffer
	chromeOut *webtest.Buffer
	deadline  time.Time // when the whole browser is stopped

	mu       sync.Mutex
	problems []string // exceptions, console errors, error and security log entries
}

// newBrowser starts Chromium with the flags this machine needs (without the
// background-networking ones its connections are refused) in a fresh profile.
// The whole browser lives until deadline at most.
func newBrowser(t *testing.T, serverOut *webtest.Buffer, deadline time.Time) *browser {
	t.Helper()
	b := &browser{t: t, serverOut: serverOut, chromeOut: &webtest.Buffer{}, deadline: deadline}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // we run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
		chromedp.CombinedOutput(b.chromeOut),
	)
	bounded, cancelBounded := context.WithDeadline(context.Background(), deadline)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(bounded, opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithListener(b.watch))
	// Runs before t.TempDir's removal, so Chromium has left the profile.
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelBounded()
	})
	b.ctx = ctx

	// The first Do starts the browser and binds it to ctx, so it gets no
	// timeout of its own; its wait is bounded here instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v\n%s", chromiumPath, err, b.chromeOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start within 30s:\n%s", chromiumPath, b.chromeOut.String())
	}
	return b
}

// watch collects the console's problems. It runs in the tab's read loop, so
// it only appends.
func (b *browser) watch(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		problem = fmt.Sprintf("exception: %s", d.Text)
		if d.Exception != nil && d.Exception.Description != "" {
			problem += " " + d.Exception.Description
		}
		if d.URL != "" {
			problem += fmt.Sprintf(" (%s:%d)", d.URL, d.LineNumber+1)
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var args []string
		for _, a := range ev.Args {
			if a.Description != "" {
				args = append(args, a.Description)
			} else {
				args = append(args, string(a.Value))
			}
		}
		problem = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
	case *log.EventEntryAdded:
		e := ev.Entry
		// CSP violations come as security entries; failed loads as errors.
		if e.Level != log.EntryLevelError && e.Source != log.EntrySourceSecurity {
			return
		}
		problem = fmt.Sprintf("log %s/%s: %s", e.Source, e.Level, e.Text)
		if e.URL != "" {
			problem += " (" + e.URL + ")"
		}
	default:
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, problem)
}

func (b *browser) consoleProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// expectConsole removes from the console's problems the one entry a step
// caused on purpose (such as the network error Chromium logs for a page
// answered with 403), and fails the test when it is not reported within 2 s.
func (b *browser) expectConsole(entry string) {
	b.t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		b.mu.Lock()
		i := slices.Index(b.problems, entry)
		if i >= 0 {
			b.problems = slices.Delete(b.problems, i, i+1)
		}
		b.mu.Unlock()
		if i >= 0 {
			return
		}
		if time.Now().After(deadline) {
			b.fatalf("the console did not report the expected %q", entry)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// do runs the actions of one step within limit, and fails the test with the
// page's state when they do not finish.
func (b *browser) do(step string, limit time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fatalf("%s: %v", step, err)
	}
}

// value is do for one action that returns a value.
func value[T any](b *browser, step string, limit time.Duration, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, limit)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fatalf("%s: %v", step, err)
	}
	return v
}

// eval evaluates a boolean JavaScript expression in the page.
func (b *browser) eval(expr string) bool {
	b.t.Helper()
	return value(b, "evaluate "+expr, 5*time.Second, chromedp.Evaluate[bool](expr))
}

// waitFor evaluates expr every 100 ms until it is true, for at most limit.
// chromedp.Poll would build the predicate with `new Function`, which the
// product's CSP rightly forbids, so the loop runs here.
func (b *browser) waitFor(what string, limit time.Duration, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(limit)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if err != nil {
			lastErr = err
		}
		if time.Now().After(deadline) {
			b.fatalf("waited %v for %s (last error: %v)", limit, what, lastErr)
		}
		select {
		case <-b.ctx.Done():
			b.fatalf("waiting for %s: %v", what, b.ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// envLines is the text of the env setup panel, one line a line.
func (b *browser) envLines() string {
	b.t.Helper()
	return value(b, "read env-lines", 5*time.Second, chromedp.Evaluate[string](
		`[...document.querySelectorAll('[data-testid=env-lines]')].map(el => el.innerText).join('\n')`))
}

// screenshot saves the page for people to look at; it is not asserted.
func (b *browser) screenshot(path string) {
	b.t.Helper()
	png := value(b, "take a screenshot", 10*time.Second, chromedp.FullScreenshot(100))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("saving the screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot of the connected page: %s", path)
}

// fatalf fails the test with the page's URL and HTML, the console's problems,
// and the tail of the server's log.
func (b *browser) fatalf(format string, args ...any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		url = "(unknown: " + err.Error() + ")"
	}
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		html = "(could not read the page: " + err.Error() + ")"
	}
	if errors.Is(b.ctx.Err(), context.DeadlineExceeded) {
		html += fmt.Sprintf("\n(the browser's time limit ran out at %s)", b.deadline.Format(time.TimeOnly))
	}
	b.t.Fatalf("%s\n\n== page %s\n%s\n\n== console problems\n%s\n\n== server log (tail)\n%s",
		fmt.Sprintf(format, args...), url, html,
		strings.Join(b.consoleProblems(), "\n"), tail(b.serverOut.String(), 40))
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	lit, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(lit)
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
