package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"chefdeploy/handlers/webtest"
	"chefdeploy/jobs"
)

var supportTeam = withEnv("SUPPORT_TEAM_SLUG", "chef-support")

func TestSupportRoutesNeedTheRole(t *testing.T) {
	t.Parallel()
	b, ada := signedIn(t, "ada", supportTeam)
	id := b.createApp(t, ada, "Some App")
	routes := []struct{ method, path string }{
		{"GET", "/support"},
		{"GET", "/support/events"},
		{"GET", "/support/apps/" + id},
		{"POST", "/support/apps/" + id + "/fail"},
	}
	for _, rt := range routes {
		if res := webtest.Do(t, ada, rt.method, b.app.URL+rt.path, url.Values{"note": {"x"}}); res.Status != http.StatusForbidden {
			t.Errorf("%s %s as a plain user = %d, want 403", rt.method, rt.path, res.Status)
		}
		anon := webtest.Browser(t)
		res := webtest.Do(t, anon, rt.method, b.app.URL+rt.path, url.Values{"note": {"x"}})
		if rt.method == "GET" && (res.Status != http.StatusFound || res.Header.Get("Location") != "/auth/login?return="+url.QueryEscape(rt.path)) {
			t.Errorf("%s %s signed out = %d %q, want the login", rt.method, rt.path, res.Status, res.Header.Get("Location"))
		}
		if rt.method == "POST" && res.Status != http.StatusUnauthorized {
			t.Errorf("%s %s signed out = %d, want 401", rt.method, rt.path, res.Status)
		}
	}
	sam := webtest.Browser(t)
	b.login(t, sam, "sam")
	if res := webtest.Do(t, sam, "GET", b.app.URL+"/support", nil); res.Status != http.StatusOK || !strings.Contains(res.Body, "Some App") {
		t.Fatalf("support member: %d", res.Status)
	}
	if res := webtest.Do(t, sam, "GET", b.app.URL+"/", nil); !strings.Contains(res.Body, `data-testid="support-link"`) {
		t.Error("support staff have no link to the console")
	}
}

// Membership is re-checked with the provision host once the last check is
// older than ten minutes.
func TestSupportRoleIsRechecked(t *testing.T) {
	t.Parallel()
	b, ada := signedIn(t, "ada", supportTeam)
	// Pretend Ada was in the support team at her last check, 11 minutes ago.
	if _, err := b.db.Exec(`UPDATE users SET support_team_member = true, support_checked_at = now() - interval '11 minutes' WHERE email = 'ada@example.com'`); err != nil {
		t.Fatal(err)
	}
	if res := webtest.Do(t, ada, "GET", b.app.URL+"/support", nil); res.Status != http.StatusForbidden {
		t.Fatalf("a stale membership was trusted: %d", res.Status)
	}
	var member bool
	if err := b.db.Get(&member, `SELECT support_team_member FROM users WHERE email = 'ada@example.com'`); err != nil {
		t.Fatal(err)
	}
	if member {
		t.Fatal("the re-check did not record that Ada is not in the team")
	}
	// A fresh check is trusted without asking again.
	if _, err := b.db.Exec(`UPDATE users SET support_team_member = true, support_checked_at = now() WHERE email = 'ada@example.com'`); err != nil {
		t.Fatal(err)
	}
	if res := webtest.Do(t, ada, "GET", b.app.URL+"/support", nil); res.Status != http.StatusOK {
		t.Fatalf("a fresh check was not trusted: %d", res.Status)
	}
}

func TestSupportSeesStateButNoSecret(t *testing.T) {
	t.Parallel()
	b, grace := signedIn(t, "grace", supportTeam)
	id := b.createApp(t, grace, "Grace Site")
	b.connect(t, grace, id, "hopper-labs")
	b.waitFinal(t, grace, id, 15*time.Second)
	reveal := webtest.Do(t, grace, "POST", b.app.URL+"/apps/"+id+"/deploy-key", nil, "HX-Request", "true")
	key := regexp.MustCompile(`CONVEX_DEPLOY_KEY=(project:[^<\s]+)`).FindStringSubmatch(reveal.Body)[1]
	webtest.Do(t, grace, "POST", b.app.URL+"/apps/"+id+"/env", url.Values{"action": {"set"}, "name": {"STRIPE_KEY"}, "value": {"sk_live_hush"}}, "HX-Request", "true")

	failed := b.createApp(t, grace, "Broken One")
	ada := webtest.Browser(t)
	b.login(t, ada, "ada")
	adaApp := b.createApp(t, ada, "Ada Quota")
	b.connect(t, ada, adaApp, "quota-reached")
	b.waitFinal(t, ada, adaApp, 15*time.Second)

	sam := webtest.Browser(t)
	b.login(t, sam, "sam")
	list := webtest.Do(t, sam, "GET", b.app.URL+"/support", nil)
	for _, want := range []string{"Grace Site", "grace@example.com", "hopper-labs", "Broken One", "Failed to create project: ProjectQuotaReached"} {
		if !strings.Contains(list.Body, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	onlyFailed := webtest.Do(t, sam, "GET", b.app.URL+"/support?state=failed", nil)
	if !strings.Contains(onlyFailed.Body, "Ada Quota") || strings.Contains(onlyFailed.Body, "Grace Site") {
		t.Error("the failed filter is wrong")
	}
	search := webtest.Do(t, sam, "GET", b.app.URL+"/support?q=GRACE%40", nil)
	if !strings.Contains(search.Body, "Grace Site") || strings.Contains(search.Body, "Ada Quota") {
		t.Error("search by owner email is wrong")
	}
	if res := webtest.Do(t, sam, "GET", b.app.URL+"/support?state=bogus", nil); res.Status != http.StatusUnprocessableEntity {
		t.Errorf("a bad filter = %d, want 422", res.Status)
	}
	detail := webtest.Do(t, sam, "GET", b.app.URL+"/support/apps/"+id, nil)
	if detail.Status != http.StatusOK || !strings.Contains(detail.Body, `data-kind="connect_succeeded"`) || !strings.Contains(detail.Body, `data-kind="deploy_key_revealed"`) {
		t.Fatalf("detail view = %d without the history", detail.Status)
	}
	if res := webtest.Do(t, sam, "GET", b.app.URL+"/support/apps/"+failed+"x", nil); res.Status != http.StatusNotFound {
		t.Errorf("unknown app in support = %d", res.Status)
	}
	for name, body := range map[string]string{"list": list.Body, "detail": detail.Body, "search": search.Body} {
		if strings.Contains(body, "sk_live_hush") {
			t.Errorf("%s shows an env value", name)
		}
	}
	b.assertNoSecrets(t, key, list.Body, detail.Body, search.Body, onlyFailed.Body)

	var viewed int
	if err := b.db.Get(&viewed, `SELECT count(*) FROM events WHERE kind = 'support_viewed_app' AND app_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if viewed != 1 {
		t.Fatalf("%d support_viewed_app events, want 1", viewed)
	}
}

func TestSupportMarksAStuckConnectionFailed(t *testing.T) {
	t.Parallel()
	// No worker runs (as if every replica's workers had died), so neither the
	// deadline job nor the sweeper can settle the attempt.
	b, ada := signedIn(t, "ada", supportTeam, func(o *setupOptions) { o.noWorker = true })
	id := b.createApp(t, ada, "Hanging")
	b.connect(t, ada, id, "black-hole")
	// Make it stuck: connecting, past its deadline.
	if _, err := b.db.Exec(`UPDATE connections SET deadline_at = now() - interval '1 minute' WHERE app_id = $1`, id); err != nil {
		t.Fatal(err)
	}

	sam := webtest.Browser(t)
	b.login(t, sam, "sam")
	list := webtest.Do(t, sam, "GET", b.app.URL+"/support", nil)
	if !strings.Contains(list.Body, `data-testid="stuck"`) {
		t.Fatalf("no stuck section:\n%s", list.Body)
	}
	stuck := list.Body[strings.Index(list.Body, `data-testid="stuck"`):]
	if !strings.Contains(stuck[:strings.Index(stuck, "support-filters")], "Hanging") {
		t.Fatal("the stuck connection is not highlighted at the top")
	}
	if res := webtest.Do(t, sam, "POST", b.app.URL+"/support/apps/"+id+"/fail", url.Values{"note": {""}}); res.Status != http.StatusUnprocessableEntity {
		t.Fatalf("an empty note = %d", res.Status)
	}
	res := webtest.Do(t, sam, "POST", b.app.URL+"/support/apps/"+id+"/fail", url.Values{"note": {"The provision host lost the request; please connect again."}})
	if res.Status != http.StatusOK || !strings.Contains(res.Body, `data-state="failed"`) {
		t.Fatalf("mark failed = %d:\n%s", res.Status, res.Body)
	}
	owner := b.status(t, ada, id)
	if stateOf(t, owner.Body) != "failed" || !strings.Contains(owner.Body, "Marked failed by support: The provision host lost the request; please connect again.") {
		t.Fatalf("the owner does not see support's note:\n%s", owner.Body)
	}
	if again := webtest.Do(t, sam, "POST", b.app.URL+"/support/apps/"+id+"/fail", url.Values{"note": {"again"}}); again.Status != http.StatusConflict {
		t.Fatalf("failing a failed connection = %d, want 409", again.Status)
	}
	var events int
	if err := b.db.Get(&events, `SELECT count(*) FROM events WHERE kind = 'support_marked_failed' AND app_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if events != 1 {
		t.Fatal("the support action was not audited")
	}
}

// Support's "mark failed" is a transition like any other: it queues the
// reconcile that deletes the project the attempt created and left unused,
// and the attempt's worker, when it wakes, changes nothing.
func TestSupportMarkFailedDeletesTheProjectLeftBehind(t *testing.T) {
	t.Parallel()
	h := newHold()
	b, ada := signedIn(t, "ada", supportTeam, withEnv("CHECK_CONNECTION_DEADLINE", "30s"),
		func(o *setupOptions) { o.hooks = &jobs.Hooks{AfterProjectRecorded: h.hook} })
	events, stop := b.jobs.Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed)
	defer stop()
	id := b.createApp(t, ada, "Held")
	b.connect(t, ada, id, "acme")
	<-h.reached
	if n := len(b.sandbox.Projects("acme")); n != 1 {
		t.Fatalf("%d projects while the attempt is held, want 1", n)
	}

	sam := webtest.Browser(t)
	b.login(t, sam, "sam")
	res := webtest.Do(t, sam, "POST", b.app.URL+"/support/apps/"+id+"/fail", url.Values{"note": {"stuck"}})
	if res.Status != http.StatusOK {
		t.Fatalf("mark failed = %d:\n%s", res.Status, res.Body)
	}
	waitJobs(t, events, 10*time.Second, "reconcile_projects")
	if n := len(b.sandbox.Projects("acme")); n != 0 {
		t.Fatalf("%d projects left after support failed the attempt, want 0", n)
	}
	close(h.release)
	waitJobs(t, events, 10*time.Second, "provision_connection")
	if owner := b.status(t, ada, id); stateOf(t, owner.Body) != "failed" || !strings.Contains(owner.Body, "Marked failed by support: stuck") {
		t.Fatalf("the held worker changed the state:\n%s", owner.Body)
	}
	var status string
	if err := b.db.Get(&status, `SELECT status FROM project_attempts WHERE app_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if status != "deleted" {
		t.Fatalf("attempt status %q, want deleted", status)
	}
}
