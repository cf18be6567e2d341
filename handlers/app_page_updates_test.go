package handlers_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
)

// outOfBand returns the element of body with the given id, which must be
// marked for an HTMX out-of-band swap; "" when there is none.
func outOfBand(t *testing.T, body, tag, id string) string {
	t.Helper()
	at := strings.Index(body, `id="`+id+`"`)
	if at < 0 {
		return ""
	}
	start := strings.LastIndex(body[:at], "<"+tag)
	end := strings.Index(body[at:], "</"+tag+">")
	if start < 0 || end < 0 {
		t.Fatalf("no <%s> around id=%q in:\n%s", tag, id, body)
	}
	element := body[start : at+end]
	if open := element[:strings.Index(element, ">")]; !strings.Contains(open, `hx-swap-oob="true"`) {
		return ""
	}
	return element
}

var pollAttrs = regexp.MustCompile(`data-testid="connection"[^>]* hx-get="([^"]+)" hx-trigger="every 1s" hx-vals="([^"]+)"`)

// pollLikeHTMX polls the status fragment in fragment the way HTMX does, with
// the fragment's own hx-get and hx-vals, until its state is final.
func pollLikeHTMX(t *testing.T, c *http.Client, base, fragment string, within time.Duration) webtest.Response {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		m := pollAttrs.FindStringSubmatch(fragment)
		if m == nil {
			t.Fatalf("the fragment does not poll with hx-get and hx-vals:\n%s", fragment)
		}
		var vals map[string]string
		if err := json.Unmarshal([]byte(html.UnescapeString(m[2])), &vals); err != nil {
			t.Fatalf("hx-vals %q: %v", m[2], err)
		}
		q := url.Values{}
		for k, v := range vals {
			q.Set(k, v)
		}
		res := webtest.Do(t, c, "GET", base+html.UnescapeString(m[1])+"?"+q.Encode(), nil, "HX-Request", "true")
		if st := stateOf(t, res.Body); st == "connected" || st == "failed" {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("still not final after %v:\n%s", within, res.Body)
		}
		fragment = res.Body
		time.Sleep(20 * time.Millisecond)
	}
}

// The status fragment is swapped alone by HTMX: when the connection changes,
// its answer must also carry the parts of the app's page that changed with
// it, or the page shows a delete menu and a history from before.
func TestConnectionChangesUpdateDeleteMenuAndHistory(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	id := b.createApp(t, c, "Tic Tac Toe")

	page := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id, nil)
	if !strings.Contains(page.Body, "The app has no Convex project.") {
		t.Fatalf("a new app's delete menu should say it has no project:\n%s", page.Body)
	}

	res := b.connect(t, c, id, "acme")
	if stateOf(t, res.Body) != "connecting" {
		t.Fatalf("connect:\n%s", res.Body)
	}
	if h := outOfBand(t, res.Body, "section", "history"); !strings.Contains(h, `data-kind="connect_started"`) {
		t.Errorf("the connect answer does not update the history with connect_started:\n%s", res.Body)
	}

	final := pollLikeHTMX(t, c, b.app.URL, res.Body, 5*time.Second)
	if stateOf(t, final.Body) != "connected" {
		t.Fatalf("connection failed:\n%s", final.Body)
	}
	if d := outOfBand(t, final.Body, "form", "delete-form"); !strings.Contains(d, `data-testid="delete-project"`) ||
		!strings.Contains(d, "acme/tic-tac-toe") {
		t.Errorf("once connected, the delete menu is not updated to offer deleting the project:\n%s", final.Body)
	}
	if h := outOfBand(t, final.Body, "section", "history"); !strings.Contains(h, `data-kind="connect_succeeded"`) {
		t.Errorf("once connected, the history is not updated with connect_succeeded:\n%s", final.Body)
	}

	reveal := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/deploy-key", url.Values{}, "HX-Request", "true")
	if reveal.Status != http.StatusOK {
		t.Fatalf("reveal = %d:\n%s", reveal.Status, reveal.Body)
	}
	if h := outOfBand(t, reveal.Body, "section", "history"); !strings.Contains(h, `data-kind="deploy_key_revealed"`) {
		t.Errorf("the reveal answer does not update the history with deploy_key_revealed:\n%s", reveal.Body)
	}

	res = webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/disconnect", url.Values{}, "HX-Request", "true")
	if stateOf(t, res.Body) != "none" {
		t.Fatalf("disconnect:\n%s", res.Body)
	}
	d := outOfBand(t, res.Body, "form", "delete-form")
	if !strings.Contains(d, "The app has no Convex project.") || strings.Contains(d, `data-testid="delete-project"`) {
		t.Errorf("after a disconnect, the delete menu is not updated:\n%s", res.Body)
	}
	if h := outOfBand(t, res.Body, "section", "history"); !strings.Contains(h, `data-kind="disconnected"`) {
		t.Errorf("the disconnect answer does not update the history with disconnected:\n%s", res.Body)
	}
}

// While connecting, the poll answers with the status fragment alone: nothing
// else on the page changes, and every connecting browser polls each second.
func TestConnectingPollIsTheFragmentAlone(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada", func(o *setupOptions) { o.noWorker = true })
	id := b.createApp(t, c, "Tic Tac Toe")
	b.connect(t, c, id, "acme")
	res := b.status(t, c, id)
	if stateOf(t, res.Body) != "connecting" || strings.Contains(res.Body, "hx-swap-oob") {
		t.Fatalf("a connecting poll should be the fragment alone:\n%s", res.Body)
	}
	// A full page (no HX-Request) never carries out-of-band parts.
	full := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id, nil)
	if strings.Contains(full.Body, "hx-swap-oob") {
		t.Fatalf("the full page carries out-of-band parts:\n%s", full.Body)
	}
}

// A deploy's answer, and the deploy panel's answer once the deploy has ended,
// carry the history: its events show without a reload.
func TestDeployUpdatesHistory(t *testing.T) {
	t.Parallel()
	b, c, id, _ := connectedApp(t, "ada", "acme")
	res := b.upload(t, c, id, goodSite(t, "one"))
	if h := outOfBand(t, res.Body, "section", "history"); !strings.Contains(h, `data-kind="deploy_started"`) {
		t.Errorf("the deploy answer does not update the history with deploy_started:\n%s", res.Body)
	}
	panel := b.waitDeploy(t, c, id)
	if h := outOfBand(t, panel, "section", "history"); !strings.Contains(h, `data-kind="deploy_done"`) {
		t.Errorf("the ended deploy's panel does not update the history with deploy_done:\n%s", panel)
	}
}
