package handlers_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
	"chefdeploy/jobs"
)

// logLevelAndMessage reads the level and message of one text log line.
var logLevelAndMessage = regexp.MustCompile(`level=(\w+) msg=("(?:[^"\\]|\\.)*"|\S+)`)

// errorCounts counts the ERROR lines of a log by message.
func errorCounts(log string) map[string]int {
	counts := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		if m := logLevelAndMessage.FindStringSubmatch(line); m != nil && m[1] == "ERROR" {
			counts[m[2]]++
		}
	}
	return counts
}

// TestStatusPollRidesOutADatabaseRestart restarts a real PostgreSQL under a
// connecting app. While the database is down the status poll answers 503
// with Retry-After and a panel that says "Reconnecting…" and keeps polling
// (never the error page swapped over #main, which ended the polling), and
// nothing logs an ERROR over and over. Once the database is back the same
// poll recovers, and the connection completes, without a restart.
func TestStatusPollRidesOutADatabaseRestart(t *testing.T) {
	t.Parallel()
	pg := startPGCluster(t)
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	hold := func(ctx context.Context, appID string) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	b, c := signedIn(t, "ada", func(o *setupOptions) {
		o.databaseURL = pg.URL
		o.env = map[string]string{"CHECK_CONNECTION_DEADLINE": "5m"}
		o.hooks = &jobs.Hooks{AfterCreateProject: hold}
	})
	// A test that fails mid-outage still lets the product stop cleanly (the
	// cleanups run last-registered first).
	var released bool
	t.Cleanup(func() {
		if !released {
			close(release)
		}
		if !pg.Running() {
			pg.Start()
		}
	})
	id := b.createApp(t, c, "Outage")
	if res := b.connect(t, c, id, "acme"); res.Status != http.StatusOK || stateOf(t, res.Body) != "connecting" {
		t.Fatalf("connect = %d:\n%s", res.Status, res.Body)
	}
	select {
	case <-entered:
	case <-time.After(15 * time.Second):
		t.Fatal("the provisioning job did not reach create_project within 15s")
	}
	pollURL := `hx-get="/apps/` + id + `/status"`
	stillPolling := func(res webtest.Response) {
		t.Helper()
		if res.Status != http.StatusServiceUnavailable {
			t.Fatalf("status poll during the outage = %d, want 503:\n%s", res.Status, res.Body)
		}
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 || s > 30 {
			t.Errorf("Retry-After = %q, want a few seconds", res.Header.Get("Retry-After"))
		}
		if h := res.Header.Get("HX-Retarget"); h != "" {
			t.Errorf("HX-Retarget = %q: the panel would be replaced and stop polling", h)
		}
		if stateOf(t, res.Body) != "connecting" || !strings.Contains(res.Body, pollURL) ||
			!strings.Contains(res.Body, `hx-trigger="every `) || !strings.Contains(res.Body, "Reconnecting…") {
			t.Fatalf("the outage answer is not the connecting panel, still polling, saying Reconnecting…:\n%s", res.Body)
		}
	}

	before := len(b.logs.String())
	pg.Stop()
	stopped := time.Now()
	stillPolling(b.status(t, c, id))
	// Poll on as the browser does until River has noticed (it fetches jobs
	// every 20ms here) and a second has passed: long enough for a flood.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(b.logs.String()[before:], "Error fetching jobs") || time.Since(stopped) < time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("River logged no fetch error within 15s of the stop:\n%s", b.logs.String()[before:])
		}
		stillPolling(b.status(t, c, id))
		time.Sleep(50 * time.Millisecond)
	}
	// Pages say the same: 503, not 500, with a message that nothing is lost.
	for _, path := range []string{"/", "/apps/" + id} {
		page := webtest.Do(t, c, "GET", b.app.URL+path, nil)
		if page.Status != http.StatusServiceUnavailable || page.Header.Get("Retry-After") == "" ||
			!strings.Contains(page.Body, "cannot reach its database") {
			t.Errorf("GET %s during the outage = %d (Retry-After %q):\n%s", path, page.Status, page.Header.Get("Retry-After"), page.Body)
		}
	}
	outage := b.logs.String()[before:]
	total := 0
	for msg, n := range errorCounts(outage) {
		total += n
		if n > 1 {
			t.Errorf("%s logged %d times at ERROR in %v of outage; want once per outage", msg, n, time.Since(stopped).Round(time.Millisecond))
		}
	}
	if total > 10 {
		t.Errorf("%d ERROR lines in %v of outage:\n%s", total, time.Since(stopped).Round(time.Millisecond), outage)
	}

	pg.Start()
	deadline = time.Now().Add(30 * time.Second)
	for {
		res := b.status(t, c, id)
		if res.Status == http.StatusOK {
			if stateOf(t, res.Body) != "connecting" || !strings.Contains(res.Body, pollURL) || strings.Contains(res.Body, "Reconnecting…") {
				t.Fatalf("the first poll after the restart is not the connecting panel:\n%s", res.Body)
			}
			break
		}
		if res.Status != http.StatusServiceUnavailable {
			t.Fatalf("status poll while the database comes back = %d:\n%s", res.Status, res.Body)
		}
		if time.Now().After(deadline) {
			t.Fatal("the status poll did not recover within 30s of the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(release)
	released = true
	if res := b.waitFinal(t, c, id, 60*time.Second); stateOf(t, res.Body) != "connected" {
		t.Fatalf("after the restart the connection ended %s:\n%s", stateOf(t, res.Body), res.Body)
	}
	if page := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id, nil); page.Status != http.StatusOK {
		t.Fatalf("the app's page after the restart = %d", page.Status)
	}
}
