package jobs

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertest"

	"chefdeploy/config"
	"chefdeploy/convex"
	"chefdeploy/credentials"
	"chefdeploy/models"
	"chefdeploy/models/dbtest"
	"chefdeploy/sandbox"
)

// fixture is what a jobs test works with: its own database, a sandbox served
// as the remote Convex, an insert-only queue with its Connections, the worker
// dependencies, and demo user Ada with one app and her sealed Convex token.
type fixture struct {
	db      *sqlx.DB
	sb      *sandbox.Sandbox
	cfg     *config.Config
	convex  *convex.Client
	queue   *Queue
	conns   *Connections
	deps    *workerDeps
	hooks   *Hooks
	user    models.User
	app     models.App
	token   string // Ada's Convex token, in the clear
	sealed  string // the same, sealed for her user
	sweeper *DeadlineSweeper
	// platform and grants are set in platform mode (setupMode).
	platform *convex.Platform
	grants   *teamGrants
	// onRequest, when set, sees each request to the sandbox before it does.
	onRequest atomic.Pointer[func(*http.Request)]
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	db, dbURL := dbtest.New(t)

	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	sb, err := sandbox.New(sandbox.Options{
		BaseURL: srv.URL,
		Clients: map[string]string{"test-client": "test-client-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close) // before srv.Close: releases black-hole handlers
	f := &fixture{}
	handler := sb.Handler()
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hook := f.onRequest.Load(); hook != nil {
			(*hook)(r)
		}
		handler.ServeHTTP(w, r)
	})

	env := map[string]string{
		"DATABASE_URL":               dbURL,
		"HTTP_ADDR":                  "127.0.0.1:0",
		"BASE_URL":                   "http://app.example.test",
		"PROVISION_HOST":             srv.URL,
		"CONVEX_API_URL":             srv.URL,
		"CONVEX_OAUTH_AUTHORIZE_URL": srv.URL + "/oauth/authorize/team",
		"CONVEX_OAUTH_TOKEN_URL":     srv.URL + "/oauth/token",
		"CONVEX_DASHBOARD_URL":       srv.URL + "/dashboard",
		"CONVEX_SITE_URL_TEMPLATE":   srv.URL + "/sites/{deployment}/",
		"CONVEX_OAUTH_CLIENT_ID":     "test-client",
		"CONVEX_OAUTH_CLIENT_SECRET": "test-client-secret",
		"OIDC_ISSUER_URL":            srv.URL + "/oidc",
		"OIDC_CLIENT_ID":             "test-client",
		"OIDC_CLIENT_SECRET":         "test-client-secret",
		"SESSION_SECRET":             "test-session-secret-0123456789abcdef",
		"CREDENTIALS_KEY":            credentials.GenerateSpec("t1"),
		// A working queue fills the stock: a few keys, not the 200 of
		// production, each ~50 ms of a core.
		"AUTH_KEY_STOCK": "2",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cx := convex.New(convex.Options{BaseURL: cfg.ProvisionHost, BaseBackoff: 10 * time.Millisecond})

	hooks := &Hooks{}
	d := Deps{
		DB: db, Convex: cx, Config: cfg, Hooks: hooks,
		Backend:          convex.NewBuilder(cx, convex.OAuthApp{ClientID: cfg.OAuthClientID, ClientSecret: cfg.OAuthClientSecret}),
		CredentialSource: LoginTokens{DB: db, Keys: cfg.Credentials},
		Publisher:        HostingPublisher{Hosting: cx},
	}
	q, err := NewQueue(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.Logger = q.sweeper.logger
	m := newMetrics(prometheus.NewRegistry())
	deps := &workerDeps{
		Deps: d, connections: q.Connections, metrics: m,
		keys: newAuthKeySource(db, cfg.Credentials, cfg.AuthKeyStock, m.inline, d.Logger),
	}

	user, err := models.UpsertUser(ctx, db, "1001", "Ada Lovelace", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	token, err := sb.IssueToken(sandbox.UserAda)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := cfg.Credentials.SealString(token, models.UserTokenPurpose(user.ID))
	if err != nil {
		t.Fatal(err)
	}
	if err := models.SetUserToken(ctx, db, user.ID, sealed); err != nil {
		t.Fatal(err)
	}
	app, err := models.CreateApp(ctx, db, user.ID, "Recipe Box", 0)
	if err != nil {
		t.Fatal(err)
	}
	*f = fixture{
		db: db, sb: sb, cfg: cfg, convex: cx, queue: q, conns: q.Connections, deps: deps, hooks: hooks,
		user: user, app: app, token: token, sealed: sealed, sweeper: q.Sweeper(),
	}
	return f
}

// start asks for a connection of the app to team, as the Connect handler does.
func (f *fixture) start(t *testing.T, team string) models.Connection {
	t.Helper()
	c, started, err := f.conns.Start(t.Context(), Start{ActorID: f.user.ID, AppID: f.app.ID, Team: team, SealedToken: f.sealed})
	if err != nil {
		t.Fatal(err)
	}
	if !started {
		t.Fatal("Start found an attempt in flight")
	}
	return c
}

// work inserts a job of args and works it with worker through River's test
// worker, in a transaction that is rolled back afterwards (what the worker
// itself writes goes through its own connections and stays).
func work[T river.JobArgs](t *testing.T, f *fixture, worker river.Worker[T], args T) (*rivertest.WorkResult, error) {
	t.Helper()
	w := rivertest.NewWorker(t, riverdatabasesql.New(f.db.DB), &river.Config{}, worker)
	tx, err := f.db.DB.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	return w.Work(t.Context(), t, tx, args, nil)
}

// mustWork works a job that must end as want.
func mustWork[T river.JobArgs](t *testing.T, f *fixture, worker river.Worker[T], args T, want river.EventKind) {
	t.Helper()
	res, err := work(t, f, worker, args)
	if err != nil {
		t.Fatalf("working %s: %v", args.Kind(), err)
	}
	if res.EventKind != want {
		t.Fatalf("%s ended %s, want %s", args.Kind(), res.EventKind, want)
	}
}

func (f *fixture) provision() *ProvisionWorker { return &ProvisionWorker{deps: f.deps} }
func (f *fixture) reconcile() *ReconcileWorker { return &ReconcileWorker{deps: f.deps} }
func (f *fixture) deploy() *DeployWorker       { return &DeployWorker{deps: f.deps} }

func (f *fixture) connection(t *testing.T) models.Connection {
	t.Helper()
	c, err := models.ConnectionByApp(t.Context(), f.db, f.app.ID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// count runs a count query; a failed query fails the test.
func (f *fixture) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.GetContext(t.Context(), &n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// events counts the app's audit events of kind.
func (f *fixture) events(t *testing.T, kind string) int {
	t.Helper()
	return f.count(t, `SELECT count(*) FROM events WHERE app_id = $1 AND kind = $2`, f.app.ID, kind)
}

// queued counts the app's jobs of kind, in any state.
func (f *fixture) queued(t *testing.T, kind string) int {
	t.Helper()
	return f.count(t, `SELECT count(*) FROM river_job WHERE kind = $1 AND args->>'app_id' = $2`, kind, f.app.ID)
}

// attempts are the app's project attempts, oldest first.
func (f *fixture) attempts(t *testing.T) []models.ProjectAttempt {
	t.Helper()
	var as []models.ProjectAttempt
	if err := f.db.SelectContext(t.Context(), &as, `
		SELECT id, app_id, user_id, attempt, team_slug, project_name, status, project_id,
		       project_slug, deployment_name, deployment_url, created_at, updated_at
		  FROM project_attempts WHERE app_id = $1 ORDER BY id`, f.app.ID); err != nil {
		t.Fatal(err)
	}
	return as
}

// expire moves the app's deadline into the past.
func (f *fixture) expire(t *testing.T) {
	t.Helper()
	f.exec(t, `UPDATE connections SET deadline_at = now() - interval '1 second' WHERE app_id = $1`, f.app.ID)
}

func (f *fixture) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := f.db.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatal(err)
	}
}

// createdProject creates a project on Convex for the app, as an attempt
// whose answer was recorded, and records that attempt with status.
func (f *fixture) recordedProject(t *testing.T, team string) (models.ProjectAttempt, convex.CreatedProject) {
	t.Helper()
	ctx := t.Context()
	p, err := f.convex.CreateProject(ctx, f.token, team, f.app.Name)
	if err != nil {
		t.Fatal(err)
	}
	id, err := models.RecordAttempt(ctx, f.db, f.app.ID, f.user.ID, 0, team, f.app.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := models.MarkAttemptCreated(ctx, f.db, id, p.ProjectID, p.ProjectSlug, p.DeploymentName, p.ProdURL); err != nil {
		t.Fatal(err)
	}
	a, err := models.AttemptByID(ctx, f.db, id)
	if err != nil {
		t.Fatal(err)
	}
	return a, p
}

// live says whether the sandbox still has project id on team.
func (f *fixture) live(team string, id int64) bool {
	for _, p := range f.sb.Projects(team) {
		if p.ID == id {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}
