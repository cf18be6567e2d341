package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/sync/errgroup"

	"chefdeploy/credentials"
	"chefdeploy/handlers/webtest"
	"chefdeploy/jobs"
)

func withEnv(k, v string) func(*setupOptions) {
	return func(o *setupOptions) {
		if o.env == nil {
			o.env = map[string]string{}
		}
		o.env[k] = v
	}
}

// Each failure team of the sandbox ends the connection in its CONTRACT §2 message.
func TestConnectErrorsShowTheContractMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		team, message string
	}{
		{"quota-reached", "Failed to create project: ProjectQuotaReached: Team has reached the maximum number of projects."},
		{"sso-required", "You must log in with Single Sign-on to access this team."},
		{"authorize-fails", "Failed to create project deploy key: 403"},
		{"expired-session", "Your sign-in has expired. Sign in again."},
		{"malformed", "Failed to create project: the Convex API returned an invalid response"},
		{"black-hole", "Failed to connect to project"},
	}
	for _, tc := range cases {
		t.Run(tc.team, func(t *testing.T) {
			t.Parallel()
			// Only the team that never answers needs to meet the deadline;
			// the others fail on their own answer, well inside the default.
			deadline := "15s"
			if tc.team == "black-hole" {
				deadline = "1500ms"
			}
			b, c := signedIn(t, "ada", withEnv("CHECK_CONNECTION_DEADLINE", deadline))
			id := b.createApp(t, c, "Fault "+tc.team)
			if res := b.connect(t, c, id, tc.team); stateOf(t, res.Body) != "connecting" {
				t.Fatalf("connect did not start: %s", res.Body)
			}
			final := b.waitFinal(t, c, id, 20*time.Second)
			if stateOf(t, final.Body) != "failed" || !strings.Contains(final.Body, ">"+tc.message+"<") {
				t.Fatalf("want failed with %q, got:\n%s", tc.message, final.Body)
			}
			if !strings.Contains(final.Body, `data-testid="connect-form"`) {
				t.Error("a failed connection should offer the connect form again")
			}
		})
	}
}

func TestRetriesThenSuccess(t *testing.T) {
	t.Parallel()
	cases := []struct {
		team  string
		calls int
	}{
		{"flaky", 3},        // 500, 500, then 200
		{"rate-limited", 2}, // 429 with Retry-After: 1, then 200
	}
	for _, tc := range cases {
		t.Run(tc.team, func(t *testing.T) {
			t.Parallel()
			b, c := signedIn(t, "ada")
			id := b.createApp(t, c, "Retry "+tc.team)
			start := time.Now()
			b.connect(t, c, id, tc.team)
			final := b.waitFinal(t, c, id, 10*time.Second)
			if stateOf(t, final.Body) != "connected" {
				t.Fatalf("retryable errors ended in failure:\n%s", final.Body)
			}
			if n := b.sandbox.Calls("create_project", tc.team); n != tc.calls {
				t.Errorf("create_project called %d times, want %d", n, tc.calls)
			}
			if tc.team == "rate-limited" && time.Since(start) < 900*time.Millisecond {
				t.Errorf("Retry-After: 1 was not honoured (connected after %v)", time.Since(start))
			}
			if n := len(b.sandbox.Projects(tc.team)); n != 1 {
				t.Errorf("%d projects on the team, want 1", n)
			}
		})
	}
}

func TestDoubleConnectStartsOneAttempt(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada", withEnv("CHECK_CONNECTION_DEADLINE", "5s"), func(o *setupOptions) { o.slowDelay = 500 * time.Millisecond })
	id := b.createApp(t, c, "Double")
	// Five clicks at once. The goroutines only send; every answer is checked
	// here, on the test's goroutine.
	answers := make([]webtest.Response, 5)
	var g errgroup.Group
	for i := range answers {
		g.Go(func() error {
			var err error
			answers[i], err = webtest.Send(c, "POST", b.app.URL+"/apps/"+id+"/connect", url.Values{"team": {"slow"}}, "HX-Request", "true")
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i, res := range answers {
		if res.Status != http.StatusOK || stateOf(t, res.Body) != "connecting" {
			t.Errorf("click %d = %d, want 200 connecting:\n%s", i, res.Status, res.Body)
		}
	}
	if final := b.waitFinal(t, c, id, 15*time.Second); stateOf(t, final.Body) != "connected" {
		t.Fatalf("not connected:\n%s", final.Body)
	}
	var attempt, started int
	if err := b.db.Get(&attempt, `SELECT attempt FROM connections WHERE app_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Get(&started, `SELECT count(*) FROM events WHERE app_id = $1 AND kind = 'connect_started'`, id); err != nil {
		t.Fatal(err)
	}
	if attempt != 1 || started != 1 || b.sandbox.Calls("create_project", "slow") != 1 || len(b.sandbox.Projects("slow")) != 1 {
		t.Fatalf("five clicks made attempt %d, %d connect_started events, %d create calls, %d projects",
			attempt, started, b.sandbox.Calls("create_project", "slow"), len(b.sandbox.Projects("slow")))
	}
}

func TestConnectAgainAfterFailureAndToANewProject(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	id := b.createApp(t, c, "Again")
	b.connect(t, c, id, "quota-reached")
	if stateOf(t, b.waitFinal(t, c, id, 15*time.Second).Body) != "failed" {
		t.Fatal("quota-reached should fail")
	}
	b.connect(t, c, id, "acme")
	if stateOf(t, b.waitFinal(t, c, id, 15*time.Second).Body) != "connected" {
		t.Fatal("connecting again after a failure did not work")
	}
	first := b.sandbox.Projects("acme")
	if res := b.connect(t, c, id, "acme"); stateOf(t, res.Body) != "connecting" {
		t.Fatal("connect to a new project did not start")
	}
	final := b.waitFinal(t, c, id, 15*time.Second)
	projects := b.sandbox.Projects("acme")
	if stateOf(t, final.Body) != "connected" || len(first) != 1 || len(projects) != 2 || !strings.Contains(final.Body, ">again-2<") {
		t.Fatalf("new project: %d projects before, %d after:\n%s", len(first), len(projects), final.Body)
	}
}

func TestNearlyFullTeamWarns(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	id := b.createApp(t, c, "Warned")
	b.connect(t, c, id, "nearly-full")
	final := b.waitFinal(t, c, id, 15*time.Second)
	if !strings.Contains(final.Body, "You have 2 projects remaining on this team.") {
		t.Fatalf("no projects-remaining warning:\n%s", final.Body)
	}
}

// hold blocks the worker at a hook until released or its context ends, and
// says when it got there.
type hold struct {
	reached chan string
	release chan struct{}
}

func newHold() *hold { return &hold{reached: make(chan string, 1), release: make(chan struct{})} }

func (h *hold) hook(ctx context.Context, appID string) {
	select {
	case h.reached <- appID:
	default:
	}
	select {
	case <-h.release:
	case <-ctx.Done():
	}
}

// A success that arrives after the deadline must not overwrite "failed"; the
// project it created is deleted by the reconcile the failure queued, not
// leaked, and the next attempt makes exactly one new one.
func TestLateSuccessAfterDeadline(t *testing.T) {
	t.Parallel()
	h := newHold()
	b, c := signedIn(t, "ada", withEnv("CHECK_CONNECTION_DEADLINE", "4s"),
		func(o *setupOptions) { o.hooks = &jobs.Hooks{AfterProjectRecorded: h.hook} })
	events, stop := b.jobs.Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed)
	defer stop()
	id := b.createApp(t, c, "Late")
	b.connect(t, c, id, "acme")
	<-h.reached
	// The sweeper records the deadline, and the reconcile it queued deletes
	// the project the held worker created; the worker, whose context ended
	// at the deadline, finds its attempt stale.
	waitJobs(t, events, 10*time.Second, "reconcile_projects", "provision_connection")
	close(h.release)
	final := b.status(t, c, id)
	if stateOf(t, final.Body) != "failed" || !strings.Contains(final.Body, "Failed to connect to project") {
		t.Fatalf("a late worker changed the state:\n%s", final.Body)
	}
	if n := len(b.sandbox.Projects("acme")); n != 0 {
		t.Fatalf("%d projects left after the failure's reconcile, want 0", n)
	}

	b.connect(t, c, id, "acme")
	if stateOf(t, b.waitFinal(t, c, id, 15*time.Second).Body) != "connected" {
		t.Fatal("retry after the deadline did not connect")
	}
	if n, calls := len(b.sandbox.Projects("acme")), b.sandbox.Calls("create_project", "acme"); n != 1 || calls != 2 {
		t.Fatalf("%d projects and %d creates, want 1 and 2", n, calls)
	}
}

// waitJobs waits until a job of each kind has ended (completed, cancelled
// or failed for good), in any order.
func waitJobs(t *testing.T, events <-chan *river.Event, within time.Duration, kinds ...string) {
	t.Helper()
	left := map[string]bool{}
	for _, k := range kinds {
		left[k] = true
	}
	timeout := time.After(within)
	for len(left) > 0 {
		select {
		case e := <-events:
			delete(left, e.Job.Kind)
		case <-timeout:
			t.Fatalf("no end of a job of kinds %v within %v", left, within)
		}
	}
}

// The worker dies between create_project and authorize (or before it could
// record create_project's answer); a new worker and a new Connect end
// connected, and no project is left behind.
func TestCrashRecoveryLeaksNoProject(t *testing.T) {
	t.Parallel()
	afterRecorded := func(h *hold) *jobs.Hooks { return &jobs.Hooks{AfterProjectRecorded: h.hook} }
	beforeRecorded := func(h *hold) *jobs.Hooks { return &jobs.Hooks{AfterCreateProject: h.hook} }
	cases := map[string]struct {
		hooks func(h *hold) *jobs.Hooks
		// late: no worker comes back before the deadline.
		late bool
	}{
		"after the answer was recorded":                  {afterRecorded, false},
		"before the answer was recorded":                 {beforeRecorded, false},
		"after the answer, no worker until the deadline": {afterRecorded, true},
		"before the answer, no worker until deadline":    {beforeRecorded, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHold()
			b, c := signedIn(t, "ada", withEnv("CHECK_CONNECTION_DEADLINE", "4s"), func(o *setupOptions) { o.noWorker = true })
			dying := b.startWorker(t, tc.hooks(h), true)
			id := b.createApp(t, c, "Crash")
			b.connect(t, c, id, "acme")
			<-h.reached
			// Kill the worker mid-provisioning.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			dying.StopAndCancel(ctx)
			cancel()
			if len(b.sandbox.Projects("acme")) != 1 {
				t.Fatal("the project should exist on the team by now")
			}
			if tc.late {
				// With no worker, the page shows failed once the deadline passes.
				if st := stateOf(t, b.waitFinal(t, c, id, 10*time.Second).Body); st != "failed" {
					t.Fatalf("with no worker, the state at the deadline is %s", st)
				}
			}
			// A fresh worker, as on another replica or after a restart: it may
			// finish the attempt (River retries the killed job) or the
			// deadline fails it; either way within the deadline.
			b.startWorker(t, nil, true)
			final := b.waitFinal(t, c, id, 10*time.Second)
			if stateOf(t, final.Body) == "failed" {
				b.connect(t, c, id, "acme")
				if final := b.waitFinal(t, c, id, 10*time.Second); stateOf(t, final.Body) != "connected" {
					t.Fatalf("reconnect after the crash failed:\n%s", final.Body)
				}
			}
			if projects := b.sandbox.Projects("acme"); len(projects) != 1 {
				t.Fatalf("%d projects on the team after recovery, want exactly 1: %+v", len(projects), projects)
			}
			var open int
			if err := b.db.Get(&open, `SELECT count(*) FROM project_attempts WHERE app_id = $1 AND status IN ('pending', 'created')`, id); err != nil {
				t.Fatal(err)
			}
			if open != 0 {
				t.Fatalf("%d attempts left unsettled", open)
			}
		})
	}
}

// A malformed answer leaves a project we never heard about; the reconcile job
// finds it by listing and deletes it.
func TestMalformedAnswerLeaksNoProject(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	id := b.createApp(t, c, "Malformed")
	b.connect(t, c, id, "malformed")
	b.waitFinal(t, c, id, 15*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for len(b.sandbox.Projects("malformed")) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the unrecorded project was never deleted: %+v", b.sandbox.Projects("malformed"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The attempt is marked once the delete answered: wait for that too.
	var status string
	for {
		b.db.Get(&status, `SELECT status FROM project_attempts WHERE app_id = $1`, id)
		if status == "deleted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempt status %q, want deleted", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDisconnectDropsCredentialsKeepsProject(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "grace")
	id := b.createApp(t, c, "Hopper App")
	b.connect(t, c, id, "hopper-labs")
	b.waitFinal(t, c, id, 15*time.Second)
	res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/disconnect", nil, "HX-Request", "true")
	if res.Status != http.StatusOK || stateOf(t, res.Body) != "none" || !strings.Contains(res.Body, "The Convex project is kept") {
		t.Fatalf("disconnect = %d:\n%s", res.Status, res.Body)
	}
	var rows int
	if err := b.db.Get(&rows, `SELECT count(*) FROM connections WHERE app_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Fatal("the connection and its deploy key are still stored")
	}
	if len(b.sandbox.Projects("hopper-labs")) != 1 {
		t.Fatal("disconnect deleted the Convex project")
	}
	if stateOf(t, b.status(t, c, id).Body) != "none" {
		t.Fatal("status after disconnect is not none")
	}
	if reveal := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/deploy-key", nil); reveal.Status != http.StatusNotFound {
		t.Fatalf("reveal after disconnect = %d", reveal.Status)
	}
}

// A session whose Convex token cannot be opened (here: CREDENTIALS_KEY was
// replaced without a reseal) starts nothing: the worker would otherwise act
// with whatever older token the user row still holds.
func TestConnectWithAnUnreadableTokenStartsNothing(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	id := b.createApp(t, c, "Stale")
	// The team selector loaded: the teams are cached, so only the token is stale.
	if res := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/teams", nil, "HX-Request", "true"); res.Status != http.StatusOK {
		t.Fatalf("teams = %d", res.Status)
	}
	b.env["CREDENTIALS_KEY"] = credentials.GenerateSpec("t2")
	b.app.Config.Handler = b.newHandler(b.loadConfig(t))
	res := b.connect(t, c, id, "acme")
	if res.Status != http.StatusUnauthorized || !strings.Contains(res.Body, "Sign in again") {
		t.Fatalf("connect with an unreadable token = %d:\n%s", res.Status, res.Body)
	}
	var rows, started int
	if err := b.db.Get(&rows, `SELECT count(*) FROM connections WHERE app_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Get(&started, `SELECT count(*) FROM events WHERE kind = 'connect_started' AND app_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if rows != 0 || started != 0 || b.sandbox.Calls("create_project", "acme") != 0 {
		t.Fatalf("%d connections, %d connect_started, %d creates: something started", rows, started, b.sandbox.Calls("create_project", "acme"))
	}
}
