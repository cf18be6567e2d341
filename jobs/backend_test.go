package jobs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"chefdeploy/convex"
	"chefdeploy/models"
	"chefdeploy/sandbox"
)

// The two CONVEX_API modes the connection flow runs in.
const (
	modeBuilder  = "builder"
	modePlatform = "platform"
)

var modes = []string{modeBuilder, modePlatform}

// testPageSize is the platform listing's page size in these tests, so that
// a handful of projects spans several pages.
const testPageSize = 2

// setupMode is setup with the flow on mode's Backend. In platform mode the
// worker acts with team tokens the sandbox mints for Ada (teamGrants), and
// lists projects testPageSize to a page.
func setupMode(t *testing.T, mode string) *fixture {
	t.Helper()
	f := setup(t)
	if mode == modePlatform {
		p := convex.NewPlatform(convex.Options{BaseURL: f.cfg.ProvisionHost, BaseBackoff: 10 * time.Millisecond}).WithPageSize(testPageSize)
		f.platform = p
		f.grants = &teamGrants{sb: f.sb, p: p, user: sandbox.UserAda, known: map[string]teamCreds{}}
		f.deps.Backend = convex.NewPlatformBackend(p)
		f.deps.CredentialSource = f.grants
	}
	return f
}

// teamGrants stands in for the team grants the product will store: a team
// token per team, minted by the sandbox on first use, with its team id from
// token_details. A team in refused has no grant.
type teamGrants struct {
	sb      *sandbox.Sandbox
	p       *convex.Platform
	user    string
	mu      sync.Mutex
	known   map[string]teamCreds
	refused map[string]bool
}

func (g *teamGrants) Credentials(ctx context.Context, _ string, team string) (convex.Credentials, convex.Team, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refused[team] {
		return convex.Credentials{}, convex.Team{Slug: team}, &NoCredentialsError{Message: "Authorize team " + team + " again."}
	}
	if tc, ok := g.known[team]; ok {
		return tc.creds, tc.team, nil
	}
	token, err := g.sb.IssueTeamToken(g.user, team)
	if err != nil {
		return convex.Credentials{}, convex.Team{}, err
	}
	d, err := g.p.TokenDetails(ctx, token)
	if err != nil {
		return convex.Credentials{}, convex.Team{}, err
	}
	tc := teamCreds{convex.Credentials{Token: token}, convex.Team{ID: d.TeamID, Slug: team}}
	g.known[team] = tc
	return tc.creds, tc.team, nil
}

// otherProjects creates n projects on team for other apps, after whatever
// the test has made so far (so newer, listed before it).
func (f *fixture) otherProjects(t *testing.T, team string, n int) {
	t.Helper()
	creds, tm, err := f.deps.owner(f.user.ID).forTeam(t.Context(), team)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := f.deps.Backend.CreateProject(t.Context(), creds, tm, fmt.Sprintf("Other App %d", i)); err != nil {
			t.Fatal(err)
		}
	}
}

// The connection flow, in both modes, from one table: the happy path, each
// failure team, a crash before and after create_project's answer, and the
// clean-up of a project whose answer was lost behind more than one page of
// the team's projects.
func TestConnectFlowInBothModes(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			t.Run("happy path", func(t *testing.T) {
				t.Parallel()
				f := setupMode(t, mode)
				c := f.connect(t, sandbox.TeamAcme)
				if c.State != models.StateConnected || c.ProjectID == 0 || c.TeamSlug != sandbox.TeamAcme {
					t.Fatalf("connection = %+v, want connected on acme", c)
				}
				ps := f.sb.Projects(sandbox.TeamAcme)
				if len(ps) != 1 || ps[0].ID != c.ProjectID {
					t.Fatalf("projects = %+v, want the one connected", ps)
				}
				key, err := f.cfg.Credentials.OpenString(c.DeployKey, models.DeployKeyPurpose(f.app.ID))
				if err != nil {
					t.Fatal(err)
				}
				env := f.sb.Env(c.DeploymentName)
				if env[envPrivateKey] == "" || env[envJWKS] == "" || env[envSiteURL] == "" {
					t.Fatalf("deployment env = %v, want Convex Auth keys and SITE_URL", keys(env))
				}
				wantName := convex.DeployKeyName(f.app.ID, c.Attempt)
				switch mode {
				case modeBuilder:
					if !strings.HasPrefix(key, "project:acme:") || c.DeployKeyName != "" {
						t.Fatalf("builder key %q… named %q, want project:acme:… and no name", key[:min(len(key), 13)], c.DeployKeyName)
					}
				case modePlatform:
					if !strings.HasPrefix(key, "dev:"+c.DeploymentName+"|") || c.DeployKeyName != wantName {
						t.Fatalf("platform key named %q, want a dev key named %q", c.DeployKeyName, wantName)
					}
					if n := f.keysNamed(t, c.DeploymentName, wantName); n != 1 {
						t.Fatalf("keys named %s at Convex = %d, want 1", wantName, n)
					}
				}
			})

			t.Run("double click", func(t *testing.T) {
				t.Parallel()
				f := setupMode(t, mode)
				c := f.start(t, sandbox.TeamAcme)
				if _, started, err := f.conns.Start(t.Context(), Start{ActorID: f.user.ID, AppID: f.app.ID, Team: sandbox.TeamAcme, SealedToken: f.sealed}); err != nil || started {
					t.Fatalf("second Start: started=%v, %v; want the attempt in flight", started, err)
				}
				args := ProvisionArgs{AppID: f.app.ID, Attempt: c.Attempt}
				mustWork(t, f, f.provision(), args, river.EventKindJobCompleted)
				mustWork(t, f, f.provision(), args, river.EventKindJobCancelled) // a duplicate job
				if got := f.connection(t); got.State != models.StateConnected {
					t.Fatalf("connection = %s %q, want connected", got.State, got.Error)
				}
				if ps := f.sb.Projects(sandbox.TeamAcme); len(ps) != 1 || f.sb.Calls("create_project", sandbox.TeamAcme) != 1 {
					t.Fatalf("projects = %d after %d creates, want exactly 1 of 1", len(ps), f.sb.Calls("create_project", sandbox.TeamAcme))
				}
			})

			for _, tc := range failureCases(mode) {
				t.Run("failure team "+tc.team, func(t *testing.T) {
					t.Parallel()
					f := setupMode(t, mode)
					c := f.start(t, tc.team)
					mustWork(t, f, f.provision(), ProvisionArgs{AppID: f.app.ID, Attempt: c.Attempt}, river.EventKindJobCompleted)
					got := f.connection(t)
					if got.State != models.StateFailed || got.Error != tc.message || got.DeployKey != "" {
						t.Fatalf("connection = %s %q, want failed %q", got.State, got.Error, tc.message)
					}
					if _, err := work(t, f, f.reconcile(), ReconcileArgs{AppID: f.app.ID}); err != nil {
						t.Fatal(err)
					}
					if ps := f.sb.Projects(tc.team); len(ps) != 0 {
						t.Fatalf("projects left on %s after the reconcile: %+v", tc.team, ps)
					}
				})
			}

			t.Run("crash after create's answer reuses the project", func(t *testing.T) {
				t.Parallel()
				f := setupMode(t, mode)
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
					t.Fatalf("connection = %s project %d, want the recorded project %d", got.State, got.ProjectID, as[0].ProjectID)
				}
				if ps := f.sb.Projects(sandbox.TeamAcme); len(ps) != 1 || f.sb.Calls("create_project", sandbox.TeamAcme) != 1 {
					t.Fatalf("projects = %d after %d creates, want exactly 1 of 1", len(ps), f.sb.Calls("create_project", sandbox.TeamAcme))
				}
			})

			t.Run("crash before create's answer, found again past the first page", func(t *testing.T) {
				t.Parallel()
				f := setupMode(t, mode)
				c := f.start(t, sandbox.TeamAcme)
				args := ProvisionArgs{AppID: f.app.ID, Attempt: c.Attempt}
				f.crashProvision(t, args, func(crash func()) {
					f.hooks.AfterCreateProject = func(context.Context, string) { crash() }
				})
				orphan := f.sb.Projects(sandbox.TeamAcme)
				if len(orphan) != 1 {
					t.Fatalf("projects after the crash = %d, want the unrecorded one", len(orphan))
				}
				// Newer projects of other apps push the orphan to the third page.
				f.otherProjects(t, sandbox.TeamAcme, 2*testPageSize)
				lists := f.sb.Calls("list_projects", sandbox.TeamAcme)

				mustWork(t, f, f.provision(), args, river.EventKindJobCompleted)
				got := f.connection(t)
				if got.State != models.StateConnected || got.ProjectID == orphan[0].ID {
					t.Fatalf("connection = %s project %d, want a new project connected", got.State, got.ProjectID)
				}
				f.assertOrphanGone(t, orphan[0].ID, 2*testPageSize+1)
				if mode == modePlatform {
					if n := f.sb.Calls("list_projects", sandbox.TeamAcme) - lists; n < 3 {
						t.Fatalf("listed %d pages, want at least 3 to reach the orphan", n)
					}
				}
			})

			t.Run("reconcile finds a lost project past the first page", func(t *testing.T) {
				t.Parallel()
				f := setupMode(t, mode)
				c := f.start(t, sandbox.TeamAcme)
				f.crashProvision(t, ProvisionArgs{AppID: f.app.ID, Attempt: c.Attempt}, func(crash func()) {
					f.hooks.AfterCreateProject = func(context.Context, string) { crash() }
				})
				orphan := f.sb.Projects(sandbox.TeamAcme)
				if len(orphan) != 1 {
					t.Fatalf("projects after the crash = %d, want the unrecorded one", len(orphan))
				}
				f.otherProjects(t, sandbox.TeamAcme, 2*testPageSize)
				f.expire(t)
				if n, err := f.sweeper.Sweep(t.Context()); err != nil || n != 1 {
					t.Fatalf("Sweep = %d, %v; want 1", n, err)
				}
				mustWork(t, f, f.reconcile(), ReconcileArgs{AppID: f.app.ID}, river.EventKindJobCompleted)
				f.assertOrphanGone(t, orphan[0].ID, 2*testPageSize)
				if as := f.attempts(t); len(as) != 1 || as[0].Status != models.AttemptDeleted {
					t.Fatalf("attempts = %+v, want the one deleted", as)
				}
			})
		})
	}
}

type failureCase struct{ team, message string }

// failureCases are each failure team's message in mode (CONTRACT §2.1 and
// §2.2 differ on a refused authorization and a refused key).
func failureCases(mode string) []failureCase {
	cases := []failureCase{
		{sandbox.TeamQuotaReached, "Failed to create project: ProjectQuotaReached: Team has reached the maximum number of projects."},
		{sandbox.TeamSSORequired, "You must log in with Single Sign-on to access this team."},
		{sandbox.TeamMalformed, "Failed to create project: the Convex API returned an invalid response"},
	}
	if mode == modeBuilder {
		return append(cases,
			failureCase{sandbox.TeamAuthorizeFails, "Failed to create project deploy key: 403"},
			failureCase{sandbox.TeamExpiredSession, "Your sign-in has expired. Sign in again."},
		)
	}
	return append(cases,
		failureCase{sandbox.TeamAuthorizeFails, "Your Convex role on team authorize-fails does not allow this."},
		failureCase{sandbox.TeamExpiredSession, "Convex no longer accepts your authorization for team expired-session. Authorize the team again."},
	)
}

// assertOrphanGone checks that the orphan was deleted and that the others
// projects on acme, and only they with the connected one, are live.
func (f *fixture) assertOrphanGone(t *testing.T, orphan int64, want int) {
	t.Helper()
	if f.live(sandbox.TeamAcme, orphan) {
		t.Fatalf("the orphan %d is still live", orphan)
	}
	if ps := f.sb.Projects(sandbox.TeamAcme); len(ps) != want {
		t.Fatalf("live projects on acme = %d, want %d", len(ps), want)
	}
}

// keysNamed counts deploymentName's deploy keys named name (platform mode).
func (f *fixture) keysNamed(t *testing.T, deploymentName, name string) int {
	t.Helper()
	creds, _, err := f.grants.Credentials(t.Context(), f.user.ID, sandbox.TeamAcme)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := f.platform.ListDeployKeys(t.Context(), creds.Token, deploymentName)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range ks {
		if k.Name == name {
			n++
		}
	}
	return n
}

// Disconnect deletes the connection's named key at Convex (platform), and
// queues nothing where keys have no name (builder); the project is kept.
func TestDisconnectDeletesDeployKey(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			f := setupMode(t, mode)
			c := f.connect(t, sandbox.TeamAcme)
			if _, err := f.conns.Disconnect(t.Context(), f.user.ID, f.app.ID); err != nil {
				t.Fatal(err)
			}
			kind := DeleteDeployKeyArgs{}.Kind()
			if mode == modeBuilder {
				if n := f.queued(t, kind); n != 0 {
					t.Fatalf("%s jobs = %d in builder mode, want 0", kind, n)
				}
				return
			}
			if n := f.queued(t, kind); n != 1 {
				t.Fatalf("%s jobs = %d, want 1", kind, n)
			}
			mustWork(t, f, &DeleteDeployKeyWorker{deps: f.deps}, DeleteDeployKeyArgs{
				AppID: f.app.ID, OwnerID: f.user.ID, TeamSlug: c.TeamSlug, DeploymentName: c.DeploymentName, KeyName: c.DeployKeyName,
			}, river.EventKindJobCompleted)
			if n := f.keysNamed(t, c.DeploymentName, c.DeployKeyName); n != 0 {
				t.Fatalf("keys named %s after disconnect = %d, want 0", c.DeployKeyName, n)
			}
			if !f.live(sandbox.TeamAcme, c.ProjectID) {
				t.Fatal("disconnect deleted the project")
			}
		})
	}
}

// Without credentials for the team, or with a key already gone, the job
// ends quietly; the key stays (or is gone) and nothing retries.
func TestDeleteDeployKeyWithoutCredentialsOrKey(t *testing.T) {
	t.Parallel()
	f := setupMode(t, modePlatform)
	c := f.connect(t, sandbox.TeamAcme)
	args := DeleteDeployKeyArgs{AppID: f.app.ID, OwnerID: f.user.ID, TeamSlug: c.TeamSlug, DeploymentName: c.DeploymentName, KeyName: c.DeployKeyName}

	f.grants.mu.Lock()
	f.grants.refused = map[string]bool{sandbox.TeamAcme: true}
	f.grants.mu.Unlock()
	mustWork(t, f, &DeleteDeployKeyWorker{deps: f.deps}, args, river.EventKindJobCompleted)
	f.grants.mu.Lock()
	f.grants.refused = nil
	f.grants.mu.Unlock()
	if n := f.keysNamed(t, c.DeploymentName, c.DeployKeyName); n != 1 {
		t.Fatalf("keys after a job without credentials = %d, want the key kept", n)
	}

	mustWork(t, f, &DeleteDeployKeyWorker{deps: f.deps}, args, river.EventKindJobCompleted)
	mustWork(t, f, &DeleteDeployKeyWorker{deps: f.deps}, args, river.EventKindJobCompleted) // 404: already gone
	if n := f.sb.Calls("delete_deploy_key", sandbox.TeamAcme); n != 2 {
		t.Fatalf("delete_deploy_key calls = %d, want 2", n)
	}
}

// A newer attempt that reuses an older attempt's project deletes the key
// the older one may have made there, so that only the connection's own key
// is left at Convex (platform mode; builder keys have no name).
func TestReuseDeletesOlderAttemptsKey(t *testing.T) {
	t.Parallel()
	f := setupMode(t, modePlatform)
	first := f.start(t, sandbox.TeamAcme)
	f.crashProvision(t, ProvisionArgs{AppID: f.app.ID, Attempt: first.Attempt}, func(crash func()) {
		f.hooks.AfterProjectRecorded = func(context.Context, string) { crash() }
	})
	as := f.attempts(t)
	if len(as) != 1 || as[0].Status != models.AttemptCreated {
		t.Fatalf("attempts = %+v, want one created", as)
	}
	// As if the first attempt had got its key before it ran out of time.
	creds, _, err := f.grants.Credentials(t.Context(), f.user.ID, sandbox.TeamAcme)
	if err != nil {
		t.Fatal(err)
	}
	oldName := convex.DeployKeyName(f.app.ID, first.Attempt)
	if _, err := f.platform.CreateDeployKey(t.Context(), creds.Token, as[0].DeploymentName, oldName); err != nil {
		t.Fatal(err)
	}
	f.expire(t)
	second := f.start(t, sandbox.TeamAcme)
	mustWork(t, f, f.provision(), ProvisionArgs{AppID: f.app.ID, Attempt: second.Attempt}, river.EventKindJobCompleted)

	c := f.connection(t)
	if c.State != models.StateConnected || c.ProjectID != as[0].ProjectID {
		t.Fatalf("connection = %s project %d, want the first attempt's project %d reused", c.State, c.ProjectID, as[0].ProjectID)
	}
	if n := f.keysNamed(t, c.DeploymentName, oldName); n != 0 {
		t.Fatalf("the first attempt's keys left = %d, want 0", n)
	}
	if n := f.keysNamed(t, c.DeploymentName, c.DeployKeyName); n != 1 || c.DeployKeyName != convex.DeployKeyName(f.app.ID, second.Attempt) {
		t.Fatalf("connection's key %q: %d at Convex, want 1", c.DeployKeyName, n)
	}
}
