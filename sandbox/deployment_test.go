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

func envQuery(name string) map[string]any {
	return map[string]any{
		"path":   "_system/cli/queryEnvironmentVariables:get",
		"format": "convex_encoded_json",
		"args":   []map[string]string{{"name": name}},
	}
}

type setVar struct {
	Name  string  `json:"name"`
	Value *string `json:"value,omitempty"`
}

func set(name, value string) setVar { return setVar{Name: name, Value: &value} }
func unset(name string) setVar      { return setVar{Name: name} }

func changes(c ...setVar) map[string][]setVar { return map[string][]setVar{"changes": c} }

// queryValue returns the value of a variable, and whether it is set.
func (f *fixture) queryValue(t *testing.T, deployment, key, name string) (string, bool) {
	t.Helper()
	rp := f.deployment(t, deployment, "query", key, envQuery(name))
	var q struct {
		Status string `json:"status"`
		Value  *struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"value"`
	}
	rp.decode(t, &q)
	if rp.status != http.StatusOK || q.Status != "success" {
		t.Fatalf("query %s: %d %s", name, rp.status, rp.body)
	}
	if q.Value == nil {
		return "", false
	}
	if q.Value.Name != name {
		t.Errorf("query %s answered name %q", name, q.Value.Name)
	}
	return q.Value.Value, true
}

func TestEnvironmentVariables(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	p := f.connect(t, sandbox.UserAda, "acme", "env app")

	rp := f.deployment(t, p.DeploymentName, "update_environment_variables", p.key,
		changes(set("SITE_URL", "https://x.example"), set("API_KEY", "k-1"), set("EMPTY", "")))
	if rp.status != http.StatusOK || strings.TrimSpace(string(rp.body)) != "{}" {
		t.Fatalf("update: %d %s", rp.status, rp.body)
	}
	if v, ok := f.queryValue(t, p.DeploymentName, p.key, "API_KEY"); !ok || v != "k-1" {
		t.Errorf("API_KEY = %q %v", v, ok)
	}
	// The admin key from create_project works too.
	if v, ok := f.queryValue(t, p.DeploymentName, p.AdminKey, "SITE_URL"); !ok || v != "https://x.example" {
		t.Errorf("SITE_URL with admin key = %q %v", v, ok)
	}

	f.deployment(t, p.DeploymentName, "update_environment_variables", p.key, changes(unset("API_KEY"), set("SITE_URL", "https://y.example")))
	if v, ok := f.queryValue(t, p.DeploymentName, p.key, "API_KEY"); ok {
		t.Errorf("deleted API_KEY still answers %q", v)
	}
	want := map[string]string{"SITE_URL": "https://y.example", "EMPTY": ""}
	if got := f.sb.Env(p.DeploymentName); !maps.Equal(got, want) {
		t.Errorf("Env = %v, want %v", got, want)
	}
	if got := f.sb.Calls("update_environment_variables", "acme"); got != 2 {
		t.Errorf("Calls(update_environment_variables) = %d", got)
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
	}{
		{"longest name", changes(set("A"+strings.Repeat("b", 39), "v")), 200},
		{"largest value", changes(set("BIG", strings.Repeat("v", 8<<10))), 200},
		{"underscores and digits", changes(set("a_1_B", "v")), 200},
		{"name too long", changes(set("A"+strings.Repeat("b", 40), "v")), 400},
		{"leading digit", changes(set("1ABC", "v")), 400},
		{"leading underscore", changes(set("_ABC", "v")), 400},
		{"dash", changes(set("MY-VAR", "v")), 400},
		{"empty name", changes(set("", "v")), 400},
		{"value too large", changes(set("BIG", strings.Repeat("v", 8<<10+1))), 400},
		{"bad JSON", `{"changes": [`, 400},
		{"changes not a list", `{"changes": {"name": "A"}}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rp := f.deployment(t, p.DeploymentName, "update_environment_variables", p.key, tt.body)
			if rp.status != tt.status {
				t.Errorf("%d %.200s, want %d", rp.status, rp.body, tt.status)
			}
		})
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
			rp := f.send(t, "POST", "/d/"+tt.deployment+"/api/query", apiHeader(t, tt.auth, envQuery("X")), jsonBody(t, envQuery("X")))
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
	if rp := f.deployment(t, c.DeploymentName, "query", key, envQuery("A")); rp.status != http.StatusNotFound {
		t.Errorf("query on a deleted deployment: %d", rp.status)
	}
	if len(f.sb.Env(c.DeploymentName)) != 0 {
		t.Errorf("variables outlive their deployment")
	}
	// A new project with the same slug does not accept the old key.
	again := f.createProject(t, ada, "acme", "short lived")
	if again.ProjectSlug != c.ProjectSlug {
		t.Fatalf("slug %q, want the freed %q", again.ProjectSlug, c.ProjectSlug)
	}
	if rp := f.deployment(t, again.DeploymentName, "query", key, envQuery("A")); rp.status != http.StatusUnauthorized {
		t.Errorf("old key on the new project: %d, want 401", rp.status)
	}
}

func TestQueryOtherFunctions(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	p := f.connect(t, sandbox.UserAda, "acme", "app")
	tests := []struct {
		name   string
		body   any
		status int
	}{
		{"unknown function", map[string]any{"path": "messages:list", "format": "convex_encoded_json", "args": []any{map[string]any{}}}, 404},
		{"no args", map[string]any{"path": "_system/cli/queryEnvironmentVariables:get", "format": "convex_encoded_json", "args": []any{}}, 400},
		{"bad format", map[string]any{"path": "_system/cli/queryEnvironmentVariables:get", "format": "xml", "args": []any{map[string]string{"name": "A"}}}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rp := f.deployment(t, p.DeploymentName, "query", p.key, tt.body)
			var e struct {
				Status string `json:"status"`
			}
			rp.decode(t, &e)
			if rp.status != tt.status || e.Status != "error" {
				t.Errorf("%d %s, want %d with status error", rp.status, rp.body, tt.status)
			}
		})
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
