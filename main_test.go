package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"chefdeploy/config"
	"chefdeploy/credentials"
	"chefdeploy/handlers/webtest"
	"chefdeploy/models"
	"chefdeploy/models/dbtest"
)

// start runs the whole program as `chefdeploy serve` and returns a function
// that sends it the shutdown signal and waits for it to end.
func start(t *testing.T, env map[string]string, out io.Writer) (stop func() error) {
	t.Helper()
	if _, set := env["SITES_ADDR"]; !set {
		// Platform mode (the default) listens for sites too: each product
		// on its own port, not the default 8081 that parallel tests share.
		env["SITES_ADDR"] = webtest.FreeAddr(t)
	}
	if _, set := env["AUTH_KEY_STOCK"]; !set {
		// A few keys, not production's 200 at ~50 ms of a core each.
		env["AUTH_KEY_STOCK"] = "2"
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, out) }()
	base := "http://" + env["HTTP_ADDR"]
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run ended before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("server not ready after 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("run did not stop after its context ended")
			return nil
		}
	}
}

// TestSandboxModeEndToEnd runs the program the way `make run` does: no
// PROVISION_HOST, so the sandbox is mounted at /sandbox and the secrets are
// generated under DATA_DIR; a login survives a restart of the process.
func TestSandboxModeEndToEnd(t *testing.T) {
	t.Parallel()
	_, dbURL := dbtest.New(t)
	addr := webtest.FreeAddr(t)
	env := map[string]string{"DATABASE_URL": dbURL, "HTTP_ADDR": addr, "DATA_DIR": t.TempDir()}
	base := "http://" + addr
	out := &webtest.Buffer{}

	stop := start(t, env, out)
	if !strings.Contains(out.String(), "listening on "+base) {
		t.Errorf("start-up line missing the URL: %q", out.String())
	}
	if sites := "deployed sites are served on " + env["SITES_ADDR"] + " at http://" + env["SITES_ADDR"] + "/{deployment}/"; !strings.Contains(out.String(), sites) {
		t.Errorf("start-up lines do not say where the sites are (%q): %q", sites, out.String())
	}
	c := webtest.Browser(t)
	webtest.Login(t, c, base, base+"/sandbox/oidc/authorize", "ada")
	home := webtest.Do(t, c, "GET", base+"/", nil)
	if !strings.Contains(home.Body, "Ada Lovelace") || !strings.Contains(home.Body, `data-testid="sandbox-badge"`) {
		t.Fatal("dashboard after login lacks the user or the sandbox badge")
	}
	// The sandbox registers the product's team callback (CONTRACT §3.2).
	if res := webtest.AuthorizeTeam(t, c, base, "?team=acme", "ada", "acme"); res.Status != http.StatusSeeOther {
		t.Fatalf("authorizing acme in sandbox mode = %d:\n%s", res.Status, res.Body)
	}
	if settings := webtest.Do(t, c, "GET", base+"/settings", nil); !strings.Contains(settings.Body, `data-team-slug="acme"`) {
		t.Fatal("the settings do not list the acme grant")
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}

	stop = start(t, env, out)
	defer stop()
	home = webtest.Do(t, c, "GET", base+"/", nil)
	if !strings.Contains(home.Body, "Ada Lovelace") {
		t.Fatal("the login did not survive a restart")
	}
	if strings.Contains(out.String(), "sbx_") {
		t.Fatal("a token reached the log")
	}
}

func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	_, dbURL := dbtest.New(t)
	addr := webtest.FreeAddr(t)
	env := map[string]string{"DATABASE_URL": dbURL, "HTTP_ADDR": addr, "DATA_DIR": t.TempDir()}
	stop := start(t, env, io.Discard)

	// The sandbox's slow team holds a request open for a few seconds. The
	// request asks to send its body only once the handler reads it, so the
	// server's 100 Continue says it has reached the handler.
	token := sandboxToken(t, env)
	reached := make(chan struct{})
	trace := &httptrace.ClientTrace{Got100Continue: func() { close(reached) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST",
		"http://"+addr+"/sandbox/api/create_project",
		strings.NewReader(`{"team":"slow","projectName":"x","deploymentType":"dev"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	type answer struct {
		status int
		err    error
	}
	got := make(chan answer, 1)
	go func() {
		res, err := client.Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		res.Body.Close()
		got <- answer{status: res.StatusCode}
	}()
	select {
	case <-reached:
	case a := <-got:
		t.Fatalf("the request ended before shutdown: %d %v", a.status, a.err)
	case <-time.After(20 * time.Second):
		t.Fatal("the request did not reach the handler within 20s")
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if a := <-got; a.err != nil || a.status != http.StatusOK {
		t.Fatalf("in-flight request got %d (%v) during shutdown, want 200", a.status, a.err)
	}
}

func TestMissingSettingStopsStartUp(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1:1/x", "PROVISION_HOST": "https://api.convex.dev"}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "OIDC_ISSUER_URL") {
		t.Fatalf("run = %v, want an error naming OIDC_ISSUER_URL", err)
	}
}

// sandboxToken signs in to the mounted sandbox as ada with the product's own
// OAuth client, the way the product does, and returns the access token.
func sandboxToken(t *testing.T, env map[string]string) string {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	// The sandbox's provision-host login page sits beside its team consent.
	loginPage := strings.TrimSuffix(cfg.OAuthAuthorizeURL, "/team")
	oc := &oauth2.Config{
		ClientID: cfg.OAuthClientID, ClientSecret: cfg.OAuthClientSecret, RedirectURL: cfg.RedirectURL(),
		Endpoint: oauth2.Endpoint{AuthURL: loginPage, TokenURL: cfg.OAuthTokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()
	authURL, _ := url.Parse(oc.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	callback, _ := url.Parse(webtest.PickUser(t, webtest.Browser(t), loginPage, authURL.Query(), "ada"))
	token, err := oc.Exchange(context.Background(), callback.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return token.AccessToken
}

func TestRolesCommand(t *testing.T) {
	t.Parallel()
	db, dbURL := dbtest.New(t)
	env := map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir()}
	roles := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(context.Background(), append([]string{"roles"}, args...), func(k string) string { return env[k] }, &out)
		return out.String(), err
	}
	if _, err := roles("grant", "support", "grace@example.com"); err == nil || !strings.Contains(err.Error(), "has signed in yet") {
		t.Fatalf("grant to an unknown email: %v", err)
	}
	if _, err := db.Exec(`INSERT INTO users (convex_id, name, email) VALUES ('g', 'Grace Hopper', 'grace@example.com')`); err != nil {
		t.Fatal(err)
	}
	if out, err := roles("grant", "support", "Grace@Example.com"); err != nil || !strings.Contains(out, "support granted") {
		t.Fatalf("grant: %q %v", out, err)
	}
	if out, _ := roles("list"); !strings.Contains(out, "grace@example.com") || !strings.Contains(out, "granted by the CLI") {
		t.Fatalf("list after grant: %q", out)
	}
	if out, err := roles("revoke", "support", "grace@example.com"); err != nil || !strings.Contains(out, "support revoked") {
		t.Fatalf("revoke: %q %v", out, err)
	}
	if out, _ := roles("list"); strings.Contains(out, "grace@example.com") {
		t.Fatalf("list after revoke: %q", out)
	}
	// Support staff by SUPPORT_OIDC_GROUP are listed too: their latest
	// sign-in's groups claim held the group.
	if _, err := db.Exec(`INSERT INTO users (convex_id, name, email, support_group_member) VALUES ('s', 'Sam Support', 'sam@example.com', true)`); err != nil {
		t.Fatal(err)
	}
	if out, _ := roles("list"); !strings.Contains(out, "sam@example.com") || !strings.Contains(out, "in the SUPPORT_OIDC_GROUP group at their latest sign-in") {
		t.Fatalf("list with a group member: %q", out)
	}
	for _, bad := range [][]string{{}, {"grant", "admin", "x@y"}, {"grant", "support"}} {
		if _, err := roles(bad...); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("roles %v: %v, want the usage line", bad, err)
		}
	}
	var events []string
	db.Select(&events, `SELECT kind FROM events ORDER BY id`)
	if strings.Join(events, ",") != "role_granted,role_revoked" {
		t.Fatalf("events = %v", events)
	}
}

// Rotating CREDENTIALS_KEY: with the new key first, `credentials reseal`
// moves every stored secret to it, after which the old key can go.
func TestCredentialsReseal(t *testing.T) {
	t.Parallel()
	db, dbURL := dbtest.New(t)
	ctx := context.Background()
	oldSpec, newSpec := credentials.GenerateSpec("old"), credentials.GenerateSpec("new")
	oldRing, _ := credentials.ParseKeyring(oldSpec)

	u, _ := models.UpsertUser(ctx, db, "1", "Ada", "ada@example.com")
	userToken, _ := oldRing.SealString("team:acme|user-token", models.UserTokenPurpose(u.ID))
	models.SetUserToken(ctx, db, u.ID, userToken)
	sessionToken, _ := oldRing.SealString("team:acme|session-token", models.SessionTokenPurpose(models.HashSessionID("sid")))
	models.CreateSession(ctx, db, "sid", u.ID, sessionToken)
	app, _ := models.CreateApp(ctx, db, u.ID, "App", 0)
	tx, _ := db.BeginTxx(ctx, nil)
	c, _, _, _ := models.BeginConnect(ctx, tx, app.ID, "acme", time.Minute)
	tx.Commit()
	deployKey, _ := oldRing.SealString("project:acme:app|deploy", models.DeployKeyPurpose(app.ID))
	models.CompleteConnection(ctx, db, app.ID, c.Attempt, models.ConnectedProject{SealedDeployKey: deployKey})
	if err := models.StockAuthKey(ctx, db, oldRing, []byte("auth-key-der")); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{"DATABASE_URL": dbURL, "PROVISION_HOST": "https://api.convex.dev",
		"CONVEX_OAUTH_CLIENT_ID": "c", "CONVEX_OAUTH_CLIENT_SECRET": "s",
		"OIDC_ISSUER_URL": "https://login.example.com", "OIDC_CLIENT_ID": "l", "OIDC_CLIENT_SECRET": "s",
		"SESSION_SECRET": strings.Repeat("x", 32), "CREDENTIALS_KEY": newSpec + "," + oldSpec}
	var out strings.Builder
	if err := run(ctx, []string{"credentials", "reseal"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1 user tokens, 1 session tokens, 1 deploy keys, 0 team grants, 1 stocked auth keys") {
		t.Fatalf("reseal said %q", out.String())
	}
	newOnly, _ := credentials.ParseKeyring(newSpec)
	checks := []struct{ query, purpose, want string }{
		{`SELECT convex_token FROM users`, models.UserTokenPurpose(u.ID), "team:acme|user-token"},
		{`SELECT convex_token FROM sessions`, models.SessionTokenPurpose(models.HashSessionID("sid")), "team:acme|session-token"},
		{`SELECT deploy_key FROM connections`, models.DeployKeyPurpose(app.ID), "project:acme:app|deploy"},
		{`SELECT sealed_key FROM auth_key_stock`, models.AuthKeyPurpose, "auth-key-der"},
	}
	for _, ch := range checks {
		var sealed string
		if err := db.Get(&sealed, ch.query); err != nil {
			t.Fatal(err)
		}
		if got, err := newOnly.OpenString(sealed, ch.purpose); err != nil || got != ch.want {
			t.Errorf("%s: the new key alone cannot open it (%v)", ch.query, err)
		}
	}
	out.Reset()
	run(ctx, []string{"credentials", "reseal"}, func(k string) string { return env[k] }, &out)
	if !strings.Contains(out.String(), "0 user tokens, 0 session tokens, 0 deploy keys, 0 team grants, 0 stocked auth keys") {
		t.Fatalf("a second reseal changed something: %q", out.String())
	}
}

// A grant whose role_granted event cannot be written is not made.
func TestRolesGrantFailsWithItsEvent(t *testing.T) {
	t.Parallel()
	db, dbURL := dbtest.New(t)
	env := map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir()}
	if _, err := db.Exec(`INSERT INTO users (convex_id, name, email) VALUES ('g', 'Grace Hopper', 'grace@example.com')`); err != nil {
		t.Fatal(err)
	}
	dbtest.RefuseEvents(t, db, models.EventRoleGranted)
	var out strings.Builder
	err := run(context.Background(), []string{"roles", "grant", "support", "grace@example.com"}, func(k string) string { return env[k] }, &out)
	if err == nil || strings.Contains(out.String(), "support granted") {
		t.Errorf("grant with its event refused: %q %v, want an error", out.String(), err)
	}
	var granted int
	if err := db.Get(&granted, `SELECT count(*) FROM users WHERE support_granted`); err != nil {
		t.Fatal(err)
	}
	if granted != 0 {
		t.Errorf("support was granted without its event")
	}
}
