package sandbox_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"chefdeploy/sandbox"
)

func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	before := setup(t, sandbox.Options{StateDir: dir})

	// A login through the real flow, a connected project with variables and
	// a site, and some usage.
	verifier := oauth2.GenerateVerifier()
	tok, err := before.oauthConfig(testClientSecret, oauth2.AuthStyleInParams).
		Exchange(t.Context(), before.authCode(t, sandbox.UserAda, verifier), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	ada := tok.AccessToken
	c := before.createProject(t, ada, "acme", "keeper")
	key := before.deployKey(t, ada, c)
	before.deployment(t, c.DeploymentName, "update_environment_variables", key, changes(set("SECRET_THING", "s3cr3t-value")))
	bundle := zipOf(t, siteFiles)
	if rp := before.deploy(t, c.DeploymentName, key, "", "application/zip", bundle); rp.status != 200 {
		t.Fatalf("deploy: %d %s", rp.status, rp.body)
	}
	before.api(t, "POST", "/api/dashboard/teams/acme/usage/record_tokens", ada, map[string]int{"centitokens": 77})
	before.api(t, "POST", "/api/create_project", ada, createBody(sandbox.TeamFlaky, "x")) // call 1 of the cycle
	before.sb.Close()
	before.srv.Close()

	after := setup(t, sandbox.Options{StateDir: dir})
	if rp := after.api(t, "GET", "/api/dashboard/profile", ada, nil); rp.status != 200 {
		t.Errorf("the login did not survive: %d", rp.status)
	}
	projects := after.sb.Projects("acme")
	if len(projects) != 1 || projects[0].ID != c.ProjectID || projects[0].DeploymentName != c.DeploymentName || projects[0].CreateTime.IsZero() {
		t.Errorf("projects after restart %+v", projects)
	}
	if v, ok := after.envValue(t, c.DeploymentName, key, "SECRET_THING"); !ok || v != "s3cr3t-value" {
		t.Errorf("variable after restart: %q %v (deploy key must still work)", v, ok)
	}
	if b, ok := after.sb.LastBundle(c.DeploymentName); !ok || !bytes.Equal(b, bundle) {
		t.Errorf("bundle after restart: %v", ok)
	}
	after.checkSite(t, c.DeploymentName)
	var usage struct {
		Used int64 `json:"centitokensUsed"`
	}
	after.api(t, "GET", "/api/dashboard/teams/acme/usage/get_token_info", ada, nil).decode(t, &usage)
	if usage.Used != 77 {
		t.Errorf("usage after restart %d", usage.Used)
	}
	// The flaky cycle goes on where it was: call 2 fails, call 3 succeeds.
	for _, want := range []int{500, 200} {
		if rp := after.api(t, "POST", "/api/create_project", ada, createBody(sandbox.TeamFlaky, "x")); rp.status != want {
			t.Errorf("flaky after restart: %d, want %d", rp.status, want)
		}
	}
	if next := after.createProject(t, ada, "acme", "next"); next.ProjectID <= c.ProjectID+1 || next.DeploymentName == c.DeploymentName {
		t.Errorf("new project %+v reuses ids of the old state", next)
	}

	// Secrets are kept only as hashes.
	raw, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, deployToken, _ := strings.Cut(key, "|")
	for name, secret := range map[string]string{"access token": ada, "deploy token": deployToken, "admin key": c.AdminKey} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("state.json holds the %s in clear", name)
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestIssuedTokensSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	before := setup(t, sandbox.Options{StateDir: dir})
	grace := before.login(t, sandbox.UserGrace)
	after := setup(t, sandbox.Options{StateDir: dir})
	if rp := after.api(t, "GET", "/api/dashboard/teams", grace, nil); rp.status != 200 {
		t.Errorf("teams after restart: %d", rp.status)
	}
	if _, err := after.sb.IssueToken("nobody"); err == nil {
		t.Errorf("IssueToken for an unknown user worked")
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	damaged := t.TempDir()
	if err := os.WriteFile(filepath.Join(damaged, "state.json"), []byte(`{"projects": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts sandbox.Options
	}{
		{"damaged state", sandbox.Options{BaseURL: "http://127.0.0.1:1/sandbox", StateDir: damaged}},
		{"no base URL", sandbox.Options{}},
		{"relative base URL", sandbox.Options{BaseURL: "/sandbox"}},
		{"other scheme", sandbox.Options{BaseURL: "ftp://example.com/sandbox"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := sandbox.New(tt.opts); err == nil {
				t.Errorf("New(%+v) worked", tt.opts)
			}
		})
	}
}

func TestDeleteRemovesStoredSite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := setup(t, sandbox.Options{StateDir: dir})
	ada := f.login(t, sandbox.UserAda)
	c := f.createProject(t, ada, "acme", "gone soon")
	key := f.deployKey(t, ada, c)
	if rp := f.deploy(t, c.DeploymentName, key, "", "application/zip", zipOf(t, siteFiles)); rp.status != 200 {
		t.Fatalf("deploy: %d %s", rp.status, rp.body)
	}
	stored := filepath.Join(dir, "sites", c.DeploymentName+".zip")
	if _, err := os.Stat(stored); err != nil {
		t.Fatalf("bundle not stored: %v", err)
	}
	f.api(t, "POST", "/api/dashboard/delete_project/"+itoa(c.ProjectID), ada, nil)
	if _, err := os.Stat(stored); !os.IsNotExist(err) {
		t.Errorf("bundle of a deleted project remains: %v", err)
	}
	if rp := f.send(t, "GET", "/sites/"+c.DeploymentName+"/", nil, nil); rp.status != 404 {
		t.Errorf("site of a deleted project: %d", rp.status)
	}
}
