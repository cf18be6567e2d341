//go:build browser

package main

import (
	"archive/zip"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// TestBrowserDeployFlow deploys a site from the app's page the way a person
// does: choose a zip, click Deploy, watch the upload's progress and the
// deploy's steps, open the site, deploy again, and roll back to the first
// deploy through the confirm dialog.
func TestBrowserDeployFlow(t *testing.T) {
	t.Parallel()
	deadline := time.Now().Add(60 * time.Second)
	p := startProduct(t)
	b := newBrowser(t, p.out, deadline)
	dialogs := b.acceptDialogs()

	// Two different sites. The first carries 8 MB of random bytes, stored
	// uncompressed, so its upload lasts long enough to report progress.
	dir := t.TempDir()
	first := writeSiteZip(t, filepath.Join(dir, "first.zip"), "<!doctype html><title>One</title><h1>First deploy from the browser test</h1>", 8<<20)
	second := writeSiteZip(t, filepath.Join(dir, "second.zip"), "<!doctype html><title>Two</title><h1>Second deploy from the browser test</h1>", 0)

	b.login(p.base, "ada")
	b.createApp(p.base, "Browser Deploys")
	b.connect("acme", "connected")

	// The usage meter and the deploy panel load by HTMX inside the panel.
	b.waitFor("the usage numbers", 10*time.Second,
		`!!document.querySelector('[data-testid=connection] [data-testid=usage] [data-testid=usage-numbers]')`)
	if usage := value(b, "read the usage", 5*time.Second, chromedp.Text(chromedp.CSS(`[data-testid=usage-numbers]`))); !strings.Contains(usage, "tokens") {
		b.fatalf("the usage numbers read %q, want … / … tokens", usage)
	}
	b.do("see the deploy form", 10*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=connection] [data-testid=deploy-form] [data-testid=bundle-input]`)),
	)

	// Deploy the first zip and watch the upload's progress box. On loopback
	// 8 MB go up in a few milliseconds, in one progress event; at 16 MB/s,
	// as over a good connection, they take half a second and report along
	// the way.
	b.throttleUploads(p.base+"/apps/*", 16<<20)
	b.watchUploadProgress()
	b.deploy(first)
	b.waitFor("the first deploy to be live", 30*time.Second,
		`document.querySelectorAll('[data-testid=deploy-row]').length === 1 &&
		 !!document.querySelector('[data-testid=deploy-steps][data-status=live]') &&
		 document.querySelector('[data-testid=deploy-row]').dataset.status === 'live'`)
	progress := value(b, "read the upload progress seen", 5*time.Second, chromedp.Evaluate[uploadProgress](`window.__uploadProgress`))
	t.Logf("upload progress box: values seen while visible %v, highest %v%%", progress.Values, progress.Max)
	if len(progress.Values) == 0 || progress.Max <= 0 {
		b.fatalf("the upload progress box never showed a value above 0 (seen: %+v)", progress)
	}
	if !slices.ContainsFunc(progress.Values, func(v float64) bool { return v > 0 && v < 100 }) {
		b.fatalf("the throttled upload's progress box showed no value between 0 and 100 (seen: %v)", progress.Values)
	}
	firstID := b.newestDeployID()

	// The site link opens the deployed site in a new tab.
	site := b.openSiteLink("/sandbox/sites/") // builder mode: the sandbox's hosted site
	site.waitFor("the first site's content", 10*time.Second,
		`document.body.innerText.includes('First deploy from the browser test')`)

	// A second, different bundle.
	b.deploy(second)
	b.waitFor("the second deploy to be live", 30*time.Second,
		`document.querySelectorAll('[data-testid=deploy-row]').length === 2 &&
		 !!document.querySelector('[data-testid=deploy-steps][data-status=live]') &&
		 document.querySelector('[data-testid=deploy-row]').dataset.status === 'live'`)
	secondID := b.newestDeployID()
	if secondID == firstID {
		b.fatalf("the second deploy has the first one's id %s", firstID)
	}
	site.reloadUntil("the second site's content", `document.body.innerText.includes('Second deploy from the browser test')`)

	// Roll back to the first deploy: Roll back on its row, then the confirm.
	b.do("click Roll back on the first deploy", 10*time.Second,
		chromedp.Click(chromedp.CSS(`[data-testid=deploy-row][data-deploy-id="`+firstID+`"] [data-testid=rollback]`), chromedp.NodeVisible),
	)
	b.waitFor("the rollback to be live", 30*time.Second,
		`(() => {
			const rows = [...document.querySelectorAll('[data-testid=deploy-row]')];
			const markedRollback = row => [...row.querySelectorAll('td span')].some(s => s.textContent.trim() === 'rollback');
			return rows.length === 3 && rows[0].dataset.status === 'live' &&
				![`+jsString(firstID)+`, `+jsString(secondID)+`].includes(rows[0].dataset.deployId) &&
				markedRollback(rows[0]) && !markedRollback(rows[1]) && !markedRollback(rows[2]) &&
				!!document.querySelector('[data-testid=deploy-steps][data-status=live]');
		})()`)
	if got := dialogs.messages(); len(got) != 1 || got[0] != "Redeploy this bundle?" {
		b.fatalf("dialogs opened: %q, want one confirm %q", got, "Redeploy this bundle?")
	}
	site.reloadUntil("the first site's content again", `document.body.innerText.includes('First deploy from the browser test')`)

	b.assertCleanConsole()
}

// uploadProgress is what watchUploadProgress recorded.
type uploadProgress struct {
	Values []float64 `json:"values"` // its <progress> value at each change seen while visible
	Max    float64   `json:"max"`    // the highest of them
}

// watchUploadProgress records, in window.__uploadProgress, every state of
// the upload progress box while it is visible. A MutationObserver samples it
// at each change of its class or value, so a short upload whose box is
// swapped away by the server's answer is still seen. It is evaluated through
// the DevTools protocol, which the page's CSP does not restrict, and the page
// itself runs no code of ours.
func (b *browser) watchUploadProgress() {
	b.t.Helper()
	b.do("watch the upload progress box", 5*time.Second, chromedp.Evaluate[chromedp.Void](`(() => {
		const seen = window.__uploadProgress = {values: [], max: 0};
		const sample = () => {
			const box = document.querySelector('[data-testid=upload-progress]');
			if (!box || box.classList.contains('hidden') || !box.checkVisibility()) return;
			const value = Number(box.querySelector('progress').value);
			seen.values.push(value);
			seen.max = Math.max(seen.max, value);
		};
		new MutationObserver(sample).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['class', 'value']});
	})()`))
}

// throttleUploads limits the upload speed of requests to URLs matching
// pattern (URLPattern syntax) to bytesPerSecond.
func (b *browser) throttleUploads(pattern string, bytesPerSecond float64) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{URLPattern: pattern, DownloadThroughput: -1, UploadThroughput: bytesPerSecond}},
	})
	if err != nil {
		b.fatalf("throttling uploads to %s: %v", pattern, err)
	}
}

// deploy chooses the zip in the deploy form and clicks Deploy.
func (b *browser) deploy(zipPath string) {
	b.t.Helper()
	b.do("deploy "+filepath.Base(zipPath), 10*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS(`[data-testid=deploy-form] [data-testid=bundle-input]`), []string{zipPath}, chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS(`[data-testid=deploy-form] [data-testid=deploy-button]`), chromedp.NodeEnabled),
	)
}

// newestDeployID is the id of the first row of the deploy history.
func (b *browser) newestDeployID() string {
	b.t.Helper()
	id := value(b, "read the newest deploy's id", 5*time.Second, chromedp.Evaluate[string](
		`document.querySelector('[data-testid=deploy-row]')?.dataset.deployId ?? ''`))
	if id == "" {
		b.fatalf("the newest deploy row has no data-deploy-id")
	}
	return id
}

// openSiteLink clicks the deploy panel's "View site" link, which must
// contain want, which opens a new tab, and returns that tab. Its console is
// watched like the page's.
func (b *browser) openSiteLink(want string) *browser {
	b.t.Helper()
	href := value(b, "read the site link", 5*time.Second, chromedp.Evaluate[string](
		`document.querySelector('[data-testid=deploys] [data-testid=site-link]')?.href ?? ''`))
	if !strings.Contains(href, want) {
		b.fatalf("the site link is %q, want one with %q", href, want)
	}
	opened := chromedp.WaitNewTarget(b.ctx, func(info *target.Info) bool { return info.Type == "page" })
	b.do("click View site", 5*time.Second,
		chromedp.Click(chromedp.CSS(`[data-testid=deploys] [data-testid=site-link]`), chromedp.NodeVisible))
	var id target.ID
	select {
	case got, ok := <-opened:
		if !ok {
			b.fatalf("no tab opened for the site link")
		}
		id = got
	case <-time.After(10 * time.Second):
		b.fatalf("clicking View site opened no tab within 10s")
	}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithTargetID(id), chromedp.WithListener(b.watch))
	b.t.Cleanup(cancel)
	// Like the browser's, the first Do binds the tab to ctx, so it gets no
	// timeout of its own; its wait is bounded here instead.
	attached := make(chan error, 1)
	go func() { attached <- chromedp.Do(ctx) }()
	select {
	case err := <-attached:
		if err != nil {
			b.fatalf("attaching to the site's tab: %v", err)
		}
	case <-time.After(10 * time.Second):
		b.fatalf("could not attach to the site's tab within 10s")
	}
	tab := &browser{t: b.t, ctx: ctx, serverOut: b.serverOut, chromeOut: b.chromeOut, deadline: b.deadline}
	tab.waitFor("the site tab at "+href, 10*time.Second, `location.href === `+jsString(href)+` && document.readyState === 'complete'`)
	return tab
}

// reloadUntil reloads the tab until expr holds, for at most 10 s: the hosted
// site changes when a deploy goes live, and a page does not update itself.
func (b *browser) reloadUntil(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.do("reload for "+what, 5*time.Second, chromedp.Reload())
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.fatalf("reloaded for 10s without %s (last error: %v)", what, err)
		}
		select {
		case <-b.ctx.Done():
			b.fatalf("waiting for %s: %v", what, b.ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// dialogLog is what acceptDialogs saw.
type dialogLog struct {
	mu   sync.Mutex
	seen []string
}

func (d *dialogLog) messages() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.seen...)
}

// acceptDialogs accepts every JavaScript dialog of the tab (hx-confirm's
// confirm()), the way a person clicks OK, and logs their messages. A dialog
// blocks the page, and so the click that opened it, so this runs on its own.
func (b *browser) acceptDialogs() *dialogLog {
	b.t.Helper()
	dialogs := &dialogLog{}
	events := chromedp.Events(b.ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			dialogs.mu.Lock()
			dialogs.seen = append(dialogs.seen, ev.Message)
			dialogs.mu.Unlock()
			if _, err := chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
				return
			}
		}
	}()
	return dialogs
}

// writeSiteZip writes a site bundle: index.html and, when filler > 0, that
// many random bytes in assets/filler.bin, stored so they stay that size.
func writeSiteZip(t *testing.T, path, indexHTML string, filler int) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	w, err := zw.Create("index.html")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(indexHTML)); err != nil {
		t.Fatal(err)
	}
	if filler > 0 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "assets/filler.bin", Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		noise := make([]byte, filler)
		rand.Read(noise)
		if _, err := w.Write(noise); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
