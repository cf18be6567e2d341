package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"chefdeploy/credentials"
	"chefdeploy/handlers/webtest"
	"chefdeploy/models/dbtest"
	"chefdeploy/sandbox"
)

// crashDeadline is the connection deadline of the kill -9 test: short in
// `make test`, the product's 15s default in `make crash` (CRASH_DEADLINE).
func crashDeadline() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("CRASH_DEADLINE")); err == nil && d > 0 {
		return d
	}
	return 3 * time.Second
}

// The product is killed with SIGKILL while create_project is in flight on a
// team that answers after 2s (and, like a real server, creates the project
// all the same), then restarted at once. Within deadline + 5s of the restart
// the connection is recorded failed and the project it created is deleted,
// without waiting for River's leader lease or for the user to come back.
func TestKillDashNineMidConnectRecovers(t *testing.T) {
	t.Parallel()
	deadline := crashDeadline()
	bin := buildProduct(t)

	addr := webtest.FreeAddr(t)
	base := "http://" + addr
	sbServer := httptest.NewServer(nil)
	t.Cleanup(sbServer.Close)
	sb, err := sandbox.New(sandbox.Options{
		BaseURL:      sbServer.URL,
		Clients:      map[string]string{"crash-client": "crash-client-secret"},
		RedirectURIs: map[string]string{"crash-client": base + "/auth/callback"},
		SlowDelay:    2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	sbServer.Config.Handler = sb.Handler()

	db, dbURL := dbtest.New(t)
	env := []string{
		"DATABASE_URL=" + dbURL,
		"HTTP_ADDR=" + addr,
		"BASE_URL=" + base,
		"CONVEX_API=builder",
		"PROVISION_HOST=" + sbServer.URL,
		"CONVEX_OAUTH_AUTHORIZE_URL=" + sbServer.URL + "/oauth/authorize/team",
		"CONVEX_API_URL=" + sbServer.URL,
		"CONVEX_OAUTH_TOKEN_URL=" + sbServer.URL + "/oauth/token",
		"CONVEX_OAUTH_CLIENT_ID=crash-client",
		"CONVEX_OAUTH_CLIENT_SECRET=crash-client-secret",
		"OIDC_ISSUER_URL=" + sbServer.URL + "/oidc",
		"OIDC_CLIENT_ID=crash-client",
		"OIDC_CLIENT_SECRET=crash-client-secret",
		"SESSION_SECRET=crash-session-secret-0123456789abcdef",
		"CREDENTIALS_KEY=" + credentials.GenerateSpec("c1"),
		"CHECK_CONNECTION_DEADLINE=" + deadline.String(),
		"AUTH_KEY_STOCK=2", // not production's 200 keys, ~50 ms of a core each
	}
	first := startProcess(t, bin, env)

	c := webtest.Browser(t)
	webtest.Login(t, c, base, sbServer.URL+"/oidc/authorize", sandbox.UserAda)
	created := webtest.Do(t, c, "POST", base+"/apps", map[string][]string{"name": {"Crash"}})
	if created.Status != http.StatusSeeOther {
		t.Fatalf("create app = %d", created.Status)
	}
	appID := filepath.Base(created.Header.Get("Location"))
	if res := webtest.Do(t, c, "POST", base+"/apps/"+appID+"/connect", map[string][]string{"team": {sandbox.TeamSlow}}, "HX-Request", "true"); res.Status != http.StatusOK {
		t.Fatalf("connect = %d", res.Status)
	}
	waitFor(t, 10*time.Second, "create_project to reach the sandbox", func() (bool, error) {
		return sb.Calls("create_project", sandbox.TeamSlow) == 1, nil
	})
	first.kill(t)
	restarted := time.Now()
	startProcess(t, bin, env)

	var recovered time.Duration
	waitFor(t, deadline+10*time.Second, "the connection recorded failed, its project deleted and its attempt settled", func() (bool, error) {
		var state string
		if err := db.Get(&state, `SELECT state FROM connections WHERE app_id = $1`, appID); err != nil {
			return false, err
		}
		var open int
		if err := db.Get(&open, `SELECT count(*) FROM project_attempts WHERE app_id = $1 AND status IN ('pending', 'created')`, appID); err != nil {
			return false, err
		}
		projects := len(sb.Projects(sandbox.TeamSlow))
		done := open == 0 && ((state == "failed" && projects == 0) || (state == "connected" && projects == 1))
		if done {
			recovered = time.Since(restarted)
		}
		return done, nil
	})
	t.Logf("recovered %v after the restart (deadline %v)", recovered.Round(time.Millisecond), deadline)
	if limit := deadline + 5*time.Second; recovered > limit {
		t.Fatalf("recovery took %v after the restart, want at most deadline + 5s = %v", recovered, limit)
	}
}

// buildProduct builds the module's binary once per test.
func buildProduct(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chefdeploy")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is the product running as its own process.
type process struct {
	cmd    *exec.Cmd
	out    *webtest.Buffer
	exited chan error
}

// startProcess runs `chefdeploy serve` and waits until /readyz answers 200.
func startProcess(t *testing.T, bin string, env []string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, "serve"), out: &webtest.Buffer{}, exited: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.kill(t)
		}
		if t.Failed() {
			t.Logf("product output:\n%s", p.out.String())
		}
	})
	var addr string
	for _, kv := range env {
		if len(kv) > len("HTTP_ADDR=") && kv[:len("HTTP_ADDR=")] == "HTTP_ADDR=" {
			addr = kv[len("HTTP_ADDR="):]
		}
	}
	waitFor(t, 30*time.Second, "the product to be ready", func() (bool, error) {
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("the product exited before it was ready: %v\n%s", err, p.out.String())
		default:
		}
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false, nil
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK, nil
	})
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the killed product did not exit")
	}
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no %s within %v", what, within)
		case <-tick.C:
		}
	}
}
