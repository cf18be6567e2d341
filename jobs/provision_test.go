package jobs

import (
	"context"
	"errors"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"chefdeploy/models"
	"chefdeploy/sandbox"
)

// connect starts a connection to team and works its provisioning to the end.
func (f *fixture) connect(t *testing.T, team string) models.Connection {
	t.Helper()
	c := f.start(t, team)
	mustWork(t, f, f.provision(), ProvisionArgs{AppID: f.app.ID, Attempt: c.Attempt}, river.EventKindJobCompleted)
	return f.connection(t)
}

func TestProvisionConnects(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.connect(t, sandbox.TeamAcme)

	if c.State != models.StateConnected || c.Error != "" || c.ProjectID == 0 || c.DeploymentName == "" || c.TeamSlug != sandbox.TeamAcme {
		t.Fatalf("connection = %+v, want connected to a project on acme", c)
	}
	projects := f.sb.Projects(sandbox.TeamAcme)
	if len(projects) != 1 || projects[0].ID != c.ProjectID || projects[0].DeploymentName != c.DeploymentName || projects[0].Name != f.app.Name {
		t.Fatalf("sandbox projects = %+v, want the one connected (%d)", projects, c.ProjectID)
	}
	as := f.attempts(t)
	if len(as) != 1 || as[0].Status != models.AttemptInUse || as[0].ProjectID != c.ProjectID {
		t.Fatalf("attempts = %+v, want one in_use for project %d", as, c.ProjectID)
	}
	key, err := f.cfg.Credentials.OpenString(c.DeployKey, models.DeployKeyPurpose(f.app.ID))
	if err != nil {
		t.Fatalf("the stored deploy key does not open for its app: %v", err)
	}
	if key == "" || key == c.DeployKey {
		t.Fatal("the deploy key is stored in the clear or empty")
	}
	env := f.sb.Env(c.DeploymentName)
	if env[envPrivateKey] == "" || env[envJWKS] == "" || env[envSiteURL] != f.cfg.SiteLink(c.DeploymentName) {
		t.Fatalf("deployment env = %v, want Convex Auth keys and SITE_URL %s", keys(env), f.cfg.SiteLink(c.DeploymentName))
	}
	private, err := parsePrivateKey(env[envPrivateKey])
	if err != nil {
		t.Fatalf("JWT_PRIVATE_KEY on the deployment: %v", err)
	}
	if _, jwks, err := authKeys(private); err != nil || jwks != env[envJWKS] {
		t.Fatalf("the deployment's JWKS is not JWT_PRIVATE_KEY's public half (%v)", err)
	}
	if n := f.events(t, models.EventConnectSucceeded); n != 1 {
		t.Fatalf("connect_succeeded events = %d, want 1", n)
	}
	if n := f.queued(t, ReconcileArgs{}.Kind()); n != 0 {
		t.Fatalf("reconcile jobs = %d after a clean connect, want 0", n)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Each failure team of the sandbox ends the attempt failed with its contract
// message and queues the reconcile, which leaves no project behind.
func TestProvisionFailureTeams(t *testing.T) {
	t.Parallel()
	cases := []struct{ team, message string }{
		{sandbox.TeamQuotaReached, "Failed to create project: ProjectQuotaReached: Team has reached the maximum number of projects."},
		{sandbox.TeamSSORequired, "You must log in with Single Sign-on to access this team."},
		{sandbox.TeamAuthorizeFails, "Failed to create project deploy key: 403"},
		{sandbox.TeamExpiredSession, "Your sign-in has expired. Sign in again."},
		{sandbox.TeamMalformed, "Failed to create project: the Convex API returned an invalid response"},
	}
	for _, tc := range cases {
		t.Run(tc.team, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			c := f.start(t, tc.team)
			mustWork(t, f, f.provision(), ProvisionArgs{AppID: f.app.ID, Attempt: c.Attempt}, river.EventKindJobCompleted)

			got := f.connection(t)
			if got.State != models.StateFailed || got.Error != tc.message || got.DeployKey != "" {
				t.Fatalf("connection = %s %q, want failed %q", got.State, got.Error, tc.message)
			}
			if n := f.count(t, `SELECT count(*) FROM events WHERE app_id = $1 AND kind = $2 AND detail = $3`,
				f.app.ID, models.EventConnectFailed, tc.message); n != 1 {
				t.Fatalf("connect_failed events with the message = %d, want 1", n)
			}
			if n := f.queued(t, ReconcileArgs{}.Kind()); n != 1 {
				t.Fatalf("reconcile jobs = %d, want 1", n)
			}
			// The reconcile deletes what the attempt created (authorize-fails
			// recorded it, malformed never could).
			if _, err := work(t, f, f.reconcile(), ReconcileArgs{AppID: f.app.ID}); err != nil {
				t.Fatal(err)
			}
			if ps := f.sb.Projects(tc.team); len(ps) != 0 {
				t.Fatalf("projects left on %s after the reconcile: %+v", tc.team, ps)
			}
		})
	}
}

// A job for an attempt that is no longer current, or for a connection that
// is gone, is cancelled and changes nothing.
func TestProvisionStaleJobIsCancelled(t *testing.T) {
	t.Parallel()
	t.Run("attempt moved on", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		f.start(t, sandbox.TeamAcme)
		f.expire(t)
		c := f.start(t, sandbox.TeamAcme) // attempt 2 supersedes attempt 1
		mustWork(t, f, f.provision(), ProvisionArgs{AppID: f.app.ID, Attempt: c.Attempt - 1}, river.EventKindJobCancelled)
		got := f.connection(t)
		if got.State != models.StateConnecting || got.Attempt != c.Attempt || got.Step != models.StepQueued {
			t.Fatalf("connection = %s attempt %d step %s, want attempt %d still queued", got.State, got.Attempt, got.Step, c.Attempt)
		}
		if len(f.attempts(t)) != 0 || f.sb.Calls("create_project", sandbox.TeamAcme) != 0 {
			t.Fatal("a stale job called create_project")
		}
	})
	t.Run("connection gone", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		c := f.start(t, sandbox.TeamAcme)
		if _, err := f.conns.Disconnect(t.Context(), f.user.ID, f.app.ID); err != nil {
			t.Fatal(err)
		}
		mustWork(t, f, f.provision(), ProvisionArgs{AppID: f.app.ID, Attempt: c.Attempt}, river.EventKindJobCancelled)
		if _, err := models.ConnectionByApp(t.Context(), f.db, f.app.ID); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("connection after a stale job: %v, want none", err)
		}
		if len(f.attempts(t)) != 0 || f.sb.Calls("create_project", sandbox.TeamAcme) != 0 {
			t.Fatal("a stale job called create_project")
		}
	})
}

// A job that starts past the deadline fails the attempt without calling Convex.
func TestProvisionPastDeadlineFails(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.start(t, sandbox.TeamAcme)
	f.expire(t)
	mustWork(t, f, f.provision(), ProvisionArgs{AppID: f.app.ID, Attempt: c.Attempt}, river.EventKindJobCompleted)

	got := f.connection(t)
	if got.State != models.StateFailed || got.Error != models.DeadlineMessage {
		t.Fatalf("connection = %s %q, want failed %q", got.State, got.Error, models.DeadlineMessage)
	}
	if n := f.events(t, models.EventDeadlineFired); n != 1 {
		t.Fatalf("deadline_fired events = %d, want 1", n)
	}
	if n := f.queued(t, ReconcileArgs{}.Kind()); n != 1 {
		t.Fatalf("reconcile jobs = %d, want 1", n)
	}
	if n := f.sb.Calls("create_project", sandbox.TeamAcme); n != 0 {
		t.Fatalf("create_project calls = %d past the deadline", n)
	}
	// The sweeper finds nothing left to fail.
	if n, err := f.sweeper.Sweep(t.Context()); err != nil || n != 0 {
		t.Fatalf("Sweep = %d, %v; want 0", n, err)
	}
}

// A create_project that never answers is cut off by the attempt's deadline,
// which is recorded as the deadline firing.
func TestProvisionRunsOutOfTime(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.start(t, sandbox.TeamBlackHole)
	f.exec(t, `UPDATE connections SET deadline_at = now() + interval '500 milliseconds' WHERE app_id = $1`, f.app.ID)
	mustWork(t, f, f.provision(), ProvisionArgs{AppID: f.app.ID, Attempt: c.Attempt}, river.EventKindJobCompleted)

	got := f.connection(t)
	if got.State != models.StateFailed || got.Error != models.DeadlineMessage {
		t.Fatalf("connection = %s %q, want failed %q", got.State, got.Error, models.DeadlineMessage)
	}
	if n := f.events(t, models.EventDeadlineFired); n != 1 {
		t.Fatalf("deadline_fired events = %d, want 1", n)
	}
}

// A stored token that no longer opens asks the owner to sign in again.
func TestProvisionUnreadableTokenFails(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.start(t, sandbox.TeamAcme)
	f.exec(t, `UPDATE users SET convex_token = 'not-sealed' WHERE id = $1`, f.user.ID)
	mustWork(t, f, f.provision(), ProvisionArgs{AppID: f.app.ID, Attempt: c.Attempt}, river.EventKindJobCompleted)
	if got := f.connection(t); got.State != models.StateFailed || got.Error != "Your sign-in has expired. Sign in again." {
		t.Fatalf("connection = %s %q", got.State, got.Error)
	}
}

// crashProvision runs the worker outside River until the hook set by arm
// cancels its context, as a replica that dies there would leave things.
func (f *fixture) crashProvision(t *testing.T, args ProvisionArgs, arm func(crash func())) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	arm(cancel)
	err := f.provision().Work(ctx, &river.Job[ProvisionArgs]{JobRow: &rivertype.JobRow{ID: 1}, Args: args})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the crashed worker returned %v, want context.Canceled", err)
	}
	*f.hooks = Hooks{}
	if got := f.connection(t); got.State != models.StateConnecting {
		t.Fatalf("a crashed worker moved the connection to %s", got.State)
	}
}

// A retry after a crash that followed the recorded create_project reuses that
// project: the attempt ends with exactly one project.
func TestProvisionRetryReusesRecordedProject(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.start(t, sandbox.TeamAcme)
	args := ProvisionArgs{AppID: f.app.ID, Attempt: c.Attempt}
	f.crashProvision(t, args, func(crash func()) {
		f.hooks.AfterProjectRecorded = func(context.Context, string) { crash() }
	})
	as := f.attempts(t)
	if len(as) != 1 || as[0].Status != models.AttemptCreated {
		t.Fatalf("attempts after the crash = %+v, want one created", as)
	}

	mustWork(t, f, f.provision(), args, river.EventKindJobCompleted)
	got := f.connection(t)
	if got.State != models.StateConnected || got.ProjectID != as[0].ProjectID {
		t.Fatalf("connection = %s project %d, want connected to the recorded project %d", got.State, got.ProjectID, as[0].ProjectID)
	}
	if ps := f.sb.Projects(sandbox.TeamAcme); len(ps) != 1 {
		t.Fatalf("projects on acme = %d, want exactly 1", len(ps))
	}
	if n := f.sb.Calls("create_project", sandbox.TeamAcme); n != 1 {
		t.Fatalf("create_project calls = %d, want 1", n)
	}
	if as := f.attempts(t); len(as) != 1 || as[0].Status != models.AttemptInUse {
		t.Fatalf("attempts = %+v, want the one in_use", as)
	}
}

// A retry after a crash between create_project and recording its answer finds
// the unrecorded project by listing, deletes it and connects a new one.
func TestProvisionRetryDeletesUnrecordedProject(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.start(t, sandbox.TeamAcme)
	args := ProvisionArgs{AppID: f.app.ID, Attempt: c.Attempt}
	f.crashProvision(t, args, func(crash func()) {
		f.hooks.AfterCreateProject = func(context.Context, string) { crash() }
	})
	orphan := f.sb.Projects(sandbox.TeamAcme)
	if len(orphan) != 1 {
		t.Fatalf("projects after the crash = %d, want the unrecorded one", len(orphan))
	}

	mustWork(t, f, f.provision(), args, river.EventKindJobCompleted)
	got := f.connection(t)
	ps := f.sb.Projects(sandbox.TeamAcme)
	if got.State != models.StateConnected || len(ps) != 1 || ps[0].ID != got.ProjectID || got.ProjectID == orphan[0].ID {
		t.Fatalf("connection %s project %d, live projects %+v; want one new project connected", got.State, got.ProjectID, ps)
	}
	as := f.attempts(t)
	if len(as) != 2 || as[0].Status != models.AttemptDeleted || as[1].Status != models.AttemptInUse {
		t.Fatalf("attempts = %+v, want [deleted, in_use]", as)
	}
}

// A create_project answer that finds its attempt already settled (a reconcile
// got there first) deletes the project it just created.
func TestProvisionDeletesProjectOfSettledAttempt(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.start(t, sandbox.TeamAcme)
	var hookErr error
	f.hooks.AfterCreateProject = func(ctx context.Context, appID string) {
		_, hookErr = f.db.ExecContext(ctx, `UPDATE project_attempts SET status = 'not_found' WHERE app_id = $1`, appID)
	}
	mustWork(t, f, f.provision(), ProvisionArgs{AppID: f.app.ID, Attempt: c.Attempt}, river.EventKindJobCancelled)
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	if n := f.sb.Calls("create_project", sandbox.TeamAcme); n != 1 {
		t.Fatalf("create_project calls = %d, want 1", n)
	}
	if ps := f.sb.Projects(sandbox.TeamAcme); len(ps) != 0 {
		t.Fatalf("the project of a settled attempt is still live: %+v", ps)
	}
	if got := f.connection(t); got.State != models.StateConnecting || got.ProjectID != 0 {
		t.Fatalf("connection = %s project %d, want untouched", got.State, got.ProjectID)
	}
}

// An older attempt still pending within its grace period does not hold the
// new one back; the new one connects and asks for a reconcile to settle it.
func TestProvisionLeavesUnsettledAttemptToReconcile(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if _, err := models.RecordAttempt(t.Context(), f.db, f.app.ID, f.user.ID, 0, sandbox.TeamAcme, f.app.Name); err != nil {
		t.Fatal(err)
	}
	c := f.connect(t, sandbox.TeamAcme)
	if c.State != models.StateConnected {
		t.Fatalf("connection = %s %q, want connected", c.State, c.Error)
	}
	if n := f.queued(t, ReconcileArgs{}.Kind()); n != 1 {
		t.Fatalf("reconcile jobs = %d, want 1 for the unsettled attempt", n)
	}
	if as := f.attempts(t); len(as) != 2 || as[0].Status != models.AttemptPending || as[1].Status != models.AttemptInUse {
		t.Fatalf("attempts = %+v, want [pending, in_use]", as)
	}
}
