package sandbox_test

import (
	"maps"
	"net/http"
	"strings"
	"testing"

	"chefdeploy/sandbox"
)

// connected is a project with a deploy key, as the product holds it after
// provisioning.
type connected struct {
	created
	key string
}

func (f *fixture) connect(t *testing.T, user, team, name string) connected {
	t.Helper()
	token := f.login(t, user)
	c := f.createProject(t, token, team, name)
	return connected{created: c, key: f.deployKey(t, token, c)}
}

type setVar struct {
	Name  string  `json:"name"`
	Value *string `json:"value,omitempty"`
}

func set(name, value string) setVar { return setVar{Name: name, Value: &value} }
func unset(name string) setVar      { return setVar{Name: name} }

func changes(c ...setVar) map[string][]setVar { return map[string][]setVar{"changes": c} }

// envValue returns the value of a variable, and whether it is set, as
// list_environment_variables answers it.
func (f *fixture) envValue(t *testing.T, deployment, key, name string) (string, bool) {
	t.Helper()
	rp := f.listEnv(t, deployment, key)
	var l struct {
		Env map[string]string `json:"environmentVariables"`
	}
	rp.decode(t, &l)
	if rp.status != http.StatusOK || l.Env == nil {
		t.Fatalf("list_environment_variables: %d %s", rp.status, rp.body)
	}
	v, ok := l.Env[name]
	return v, ok
}

func TestEnvironmentVariables(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	p := f.connect(t, sandbox.UserAda, "acme", "env app")

	rp := f.deployment(t, p.DeploymentName, "update_environment_variables", p.key,
		changes(set("SITE_URL", "https://x.example"), set("API_KEY", "k-1"), set("EMPTY", "")))
	if rp.status != http.StatusOK || len(rp.body) != 0 {
		t.Fatalf("update: %d %s", rp.status, rp.body)
	}
	if v, ok := f.envValue(t, p.DeploymentName, p.key, "API_KEY"); !ok || v != "k-1" {
		t.Errorf("API_KEY = %q %v", v, ok)
	}
	// The admin key from create_project works too.
	if v, ok := f.envValue(t, p.DeploymentName, p.AdminKey, "SITE_URL"); !ok || v != "https://x.example" {
		t.Errorf("SITE_URL with admin key = %q %v", v, ok)
	}

	f.deployment(t, p.DeploymentName, "update_environment_variables", p.key, changes(unset("API_KEY"), set("SITE_URL", "https://y.example")))
	if v, ok := f.envValue(t, p.DeploymentName, p.key, "API_KEY"); ok {
		t.Errorf("deleted API_KEY still answers %q", v)
	}
	want := map[string]string{"SITE_URL": "https://y.example", "EMPTY": ""}
	if got := f.sb.Env(p.DeploymentName); !maps.Equal(got, want) {
		t.Errorf("Env = %v, want %v", got, want)
	}
	if got := f.sb.Calls("update_environment_variables", "acme"); got != 2 {
		t.Errorf("Calls(update_environment_variables) = %d", got)
	}
	if got := f.sb.Calls("list_environment_variables", "acme"); got != 3 {
		t.Errorf("Calls(list_environment_variables) = %d, want 3", got)
	}
}

func TestEnvUpdateValidation(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	p := f.connect(t, sandbox.UserAda, "acme", "app")
	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"longest name", changes(set("A"+strings.Repeat("b", 255), "v")), 200, ""},
		{"largest value", changes(set("BIG", strings.Repeat("v", 8<<10))), 200, ""},
		{"underscores and digits", changes(set("a_1_B", "v")), 200, ""},
		{"leading underscore", changes(set("_ABC", "v")), 200, ""},
		{"name too long", changes(set("A"+strings.Repeat("b", 256), "v")), 400, "EnvironmentVariableNameTooLong"},
		{"leading digit", changes(set("1ABC", "v")), 400, "EnvironmentVariableNameInvalid"},
		{"dash", changes(set("MY-VAR", "v")), 400, "EnvironmentVariableNameInvalid"},
		{"empty name", changes(set("", "v")), 400, "EnvironmentVariableNameInvalid"},
		{"value too large", changes(set("BIG", strings.Repeat("v", 8<<10+1))), 400, "EnvironmentVariableValueTooLarge"},
		{"bad JSON", `{"changes": [`, 400, ""},
		{"changes not a list", `{"changes": {"name": "A"}}`, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rp := f.deployment(t, p.DeploymentName, "update_environment_variables", p.key, tt.body)
			if rp.status != tt.status {
				t.Errorf("%d %.200s, want %d", rp.status, rp.body, tt.status)
			}
			if tt.code != "" {
				var e struct{ Code, Message string }
				rp.decode(t, &e)
				if e.Code != tt.code || e.Message == "" {
					t.Errorf("answer %s, want code %s with a message", rp.body, tt.code)
				}
			}
		})
	}
	// A deployment holds at most 512 variables and 512 KiB of them: 512
	// values of 1,020 bytes fill it to just under 512 KiB.
	q := f.connect(t, sandbox.UserAda, "acme", "full app")
	var many []setVar
	for i := range 512 {
		many = append(many, set("V"+itoa(int64(i)), strings.Repeat("v", 1020)))
	}
	if rp := f.deployment(t, q.DeploymentName, "update_environment_variables", q.key, changes(many...)); rp.status != http.StatusOK {
		t.Fatalf("512 variables: %d %.200s", rp.status, rp.body)
	}
	for _, tt := range []struct {
		change setVar
		code   string
	}{
		{set("ONE_MORE", "v"), "EnvironmentVariablesTooMany"},
		{set("V0", strings.Repeat("v", 8<<10)), "EnvironmentVariablesTooLarge"},
	} {
		rp := f.deployment(t, q.DeploymentName, "update_environment_variables", q.key, changes(tt.change))
		var e struct{ Code string }
		rp.decode(t, &e)
		if rp.status != http.StatusBadRequest || e.Code != tt.code {
			t.Errorf("%s beyond the limits: %d %s, want 400 %s", tt.change.Name, rp.status, rp.body, tt.code)
		}
	}
	if env := f.sb.Env(q.DeploymentName); len(env) != 512 || len(env["V0"]) != 1020 {
		t.Errorf("a refused update changed the variables: %d of them, V0 %d bytes", len(env), len(env["V0"]))
	}

	// A rejected update changes nothing, not even its valid part.
	rp := f.deployment(t, p.DeploymentName, "update_environment_variables", p.key, changes(set("GOOD", "v"), set("1BAD", "v")))
	if _, ok := f.sb.Env(p.DeploymentName)["GOOD"]; rp.status != http.StatusBadRequest || ok {
		t.Errorf("partly valid update: %d, GOOD set: %v", rp.status, ok)
	}
}

func TestDeploymentAuth(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	p := f.connect(t, sandbox.UserAda, "acme", "mine")
	other := f.connect(t, sandbox.UserGrace, "hopper-labs", "theirs")
	token, secret, _ := strings.Cut(p.key, "|")
	tests := []struct {
		name, deployment, auth string
		status                 int
	}{
		{"no header", p.DeploymentName, "", 401},
		{"bearer scheme", p.DeploymentName, "Bearer " + p.key, 401},
		{"forged token", p.DeploymentName, "Convex " + token + "|sbxd_forged", 401},
		{"token of another project", p.DeploymentName, "Convex project:acme:mine|" + strings.TrimPrefix(other.key, "project:hopper-labs:theirs|"), 401},
		{"other project's deploy key", p.DeploymentName, "Convex " + other.key, 401},
		{"other project's admin key", p.DeploymentName, "Convex " + other.AdminKey, 401},
		{"token alone", p.DeploymentName, "Convex " + secret, 401},
		{"unknown deployment", "lost-dodo-000", "Convex " + p.key, 404},
		{"deploy key", p.DeploymentName, "Convex " + p.key, 200},
		{"scheme in lower case", p.DeploymentName, "convex " + p.key, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rp := f.send(t, "GET", "/d/"+tt.deployment+"/api/v1/list_environment_variables", apiHeader(t, tt.auth, nil), nil)
			if rp.status != tt.status {
				t.Errorf("%d %s, want %d", rp.status, rp.body, tt.status)
			}
		})
	}
}

func TestDeletedProjectKeysStopWorking(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	ada := f.login(t, sandbox.UserAda)
	c := f.createProject(t, ada, "acme", "short lived")
	key := f.deployKey(t, ada, c)
	f.deployment(t, c.DeploymentName, "update_environment_variables", key, changes(set("A", "1")))
	f.api(t, "POST", "/api/dashboard/delete_project/"+itoa(c.ProjectID), ada, nil)
	if rp := f.listEnv(t, c.DeploymentName, key); rp.status != http.StatusNotFound {
		t.Errorf("listing a deleted deployment's variables: %d", rp.status)
	}
	if len(f.sb.Env(c.DeploymentName)) != 0 {
		t.Errorf("variables outlive their deployment")
	}
	// A new project with the same slug does not accept the old key.
	again := f.createProject(t, ada, "acme", "short lived")
	if again.ProjectSlug != c.ProjectSlug {
		t.Fatalf("slug %q, want the freed %q", again.ProjectSlug, c.ProjectSlug)
	}
	if rp := f.listEnv(t, again.DeploymentName, key); rp.status != http.StatusUnauthorized {
		t.Errorf("old key on the new project: %d, want 401", rp.status)
	}
}

// The deployment answers only the /api/v1 calls of CONTRACT §2.3.
func TestDeploymentOnlyAnswersTheContract(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	p := f.connect(t, sandbox.UserAda, "acme", "app")
	for _, path := range []string{"/api/query", "/api/update_environment_variables", "/api/v1/query"} {
		rp := f.send(t, "POST", "/d/"+p.DeploymentName+path, apiHeader(t, "Convex "+p.key, map[string]any{}), jsonBody(t, map[string]any{}))
		if rp.status != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", path, rp.status)
		}
	}
	if rp := f.send(t, "POST", "/d/"+p.DeploymentName+"/api/v1/list_environment_variables", apiHeader(t, "Convex "+p.key, nil), nil); rp.status != http.StatusMethodNotAllowed {
		t.Errorf("POST list_environment_variables: %d, want 405", rp.status)
	}
}

func TestDashboardShowsNamesNotValues(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	p := f.connect(t, sandbox.UserAda, "acme", `<script>alert("x")</script> app`)
	f.deployment(t, p.DeploymentName, "update_environment_variables", p.key, changes(set("OPENAI_API_KEY", "sk-very-secret")))

	rp := f.send(t, "GET", "/dashboard/d/"+p.DeploymentName, nil, nil)
	page := string(rp.body)
	if rp.status != http.StatusOK || !strings.HasPrefix(rp.header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %q", rp.status, rp.header.Get("Content-Type"))
	}
	for _, want := range []string{"Convex sandbox dashboard", "OPENAI_API_KEY", p.DeploymentName, "Acme", "&lt;script&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, leak := range []string{"sk-very-secret", "<script>", p.AdminKey} {
		if strings.Contains(page, leak) {
			t.Errorf("page contains %q", leak)
		}
	}
	if rp := f.send(t, "GET", "/dashboard/d/lost-dodo-000", nil, nil); rp.status != http.StatusNotFound {
		t.Errorf("unknown deployment: %d", rp.status)
	}
}

// The team page is where the product's "Open team in Convex" goes
// ({CONVEX_DASHBOARD_URL}/t/{slug}): the team, its live projects against
// its quota, each linking to its deployment's page.
func TestDashboardTeamPage(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	p := f.connect(t, sandbox.UserAda, "nearly-full", "Team Page App")
	rp := f.send(t, "GET", "/dashboard/t/nearly-full", nil, nil)
	page := string(rp.body)
	if rp.status != http.StatusOK {
		t.Fatalf("team page = %d", rp.status)
	}
	for _, want := range []string{"Nearly Full", "nearly-full", "1 of 3 projects", "/dashboard/d/" + p.DeploymentName + `"`, "Team Page App"} {
		if !strings.Contains(page, want) {
			t.Errorf("team page lacks %q:\n%s", want, page)
		}
	}
	if rp := f.send(t, "GET", "/dashboard/t/no-such-team", nil, nil); rp.status != http.StatusNotFound {
		t.Errorf("unknown team: %d", rp.status)
	}
}
