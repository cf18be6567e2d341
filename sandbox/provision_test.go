package sandbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"

	"chefdeploy/sandbox"
)

func TestProfile(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	tests := []struct {
		user, rawID, name, email string
	}{
		{sandbox.UserAda, `1001`, "Ada Lovelace", "ada@example.com"},
		{sandbox.UserGrace, `"user_grace"`, "Grace Hopper", "grace@example.com"},
		{sandbox.UserSam, `1003`, "Sam Support", "sam@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			t.Parallel()
			var p struct {
				ID    json.RawMessage `json:"id"`
				Name  string          `json:"name"`
				Email string          `json:"email"`
			}
			f.api(t, "GET", "/api/dashboard/profile", f.login(t, tt.user), nil).decode(t, &p)
			if string(p.ID) != tt.rawID || p.Name != tt.name || p.Email != tt.email {
				t.Errorf("profile = %s %q %q, want %s %q %q", p.ID, p.Name, p.Email, tt.rawID, tt.name, tt.email)
			}
		})
	}
}

type teamJSON struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Slug         string `json:"slug"`
	ReferralCode string `json:"referralCode"`
}

func TestTeams(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	tests := []struct {
		user  string
		slugs []string
	}{
		{sandbox.UserAda, []string{
			"acme", "nearly-full", "disabled", "quota-reached", "sso-required", "flaky", "rate-limited",
			"black-hole", "slow", "malformed", "authorize-fails", "expired-session",
		}},
		{sandbox.UserGrace, []string{"hopper-labs"}},
		{sandbox.UserSam, []string{"chef-support", "sam-sandbox"}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			t.Parallel()
			var teams []teamJSON
			f.api(t, "GET", "/api/dashboard/teams", f.login(t, tt.user), nil).decode(t, &teams)
			var slugs []string
			for _, team := range teams {
				slugs = append(slugs, team.Slug)
				if team.ID <= 0 || team.Name == "" || team.ReferralCode == "" {
					t.Errorf("incomplete team %+v", team)
				}
			}
			if !slices.Equal(slugs, tt.slugs) {
				t.Errorf("teams %v, want %v", slugs, tt.slugs)
			}
		})
	}
}

func TestProvisionAPIRequiresToken(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	endpoints := []struct{ method, path string }{
		{"GET", "/api/dashboard/profile"},
		{"GET", "/api/dashboard/teams"},
		{"POST", "/api/create_project"},
		{"POST", "/api/dashboard/authorize"},
		{"GET", "/api/teams/acme/projects"},
		{"POST", "/api/dashboard/delete_project/1"},
		{"GET", "/api/dashboard/teams/acme/usage/get_token_info"},
		{"POST", "/api/dashboard/teams/acme/usage/record_tokens"},
	}
	auths := map[string]string{
		"none":          "",
		"unknown token": "Bearer team:acme|sbx_forged",
		"basic":         "Basic " + basic("ada", "ada"),
	}
	for _, e := range endpoints {
		for name, auth := range auths {
			t.Run(e.path+"/"+name, func(t *testing.T) {
				t.Parallel()
				rp := f.send(t, e.method, e.path, apiHeader(t, auth, nil), nil)
				if rp.status != http.StatusUnauthorized || rp.code(t) != "Unauthenticated" {
					t.Errorf("%d %s, want 401 Unauthenticated", rp.status, rp.body)
				}
			})
		}
	}
}

func TestTeamsOfOthersAreNotFound(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	grace := f.login(t, sandbox.UserGrace)
	tests := []struct {
		name, method, path string
		body               any
	}{
		{"create", "POST", "/api/create_project", createBody("acme", "x")},
		{"create in unknown team", "POST", "/api/create_project", createBody("no-such-team", "x")},
		{"list", "GET", "/api/teams/acme/projects", nil},
		{"token info", "GET", "/api/dashboard/teams/acme/usage/get_token_info", nil},
		{"record tokens", "POST", "/api/dashboard/teams/acme/usage/record_tokens", map[string]int{"centitokens": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rp := f.api(t, tt.method, tt.path, grace, tt.body)
			if rp.status != http.StatusNotFound || rp.code(t) != "TeamNotFound" {
				t.Errorf("%d %s, want 404 TeamNotFound", rp.status, rp.body)
			}
		})
	}
	if n := f.sb.Calls("create_project", "acme"); n != 0 {
		t.Errorf("refused calls were counted for acme: %d", n)
	}
}

func TestCreateProjectValidation(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	ada := f.login(t, sandbox.UserAda)
	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"not JSON", `{"team": "acme",`, 400, "BadJsonBody"},
		{"array", `[1,2]`, 400, "BadJsonBody"},
		{"trailing data", `{"team":"acme","projectName":"x","deploymentType":"dev"} {}`, 400, "BadJsonBody"},
		{"wrong type", `{"team": 5, "projectName": "x", "deploymentType": "dev"}`, 400, "BadJsonBody"},
		{"no team", map[string]string{"projectName": "x", "deploymentType": "dev"}, 400, "InvalidTeam"},
		{"no name", createBody("acme", "   "), 400, "InvalidProjectName"},
		{"long name", createBody("acme", strings.Repeat("n", 129)), 400, "InvalidProjectName"},
		{"control character", createBody("acme", "a\x00b"), 400, "InvalidProjectName"},
		{"no deployment type", map[string]string{"team": "acme", "projectName": "x"}, 400, "InvalidDeploymentType"},
		{"bad deployment type", map[string]string{"team": "acme", "projectName": "x", "deploymentType": "preview"}, 400, "InvalidDeploymentType"},
		{"too large", map[string]string{"team": "acme", "projectName": strings.Repeat("x", 2<<20), "deploymentType": "dev"}, 413, "RequestTooLarge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rp := f.api(t, "POST", "/api/create_project", ada, tt.body)
			if rp.status != tt.status || rp.code(t) != tt.code {
				t.Errorf("%d %.200s, want %d %s", rp.status, rp.body, tt.status, tt.code)
			}
		})
	}
	if got := f.sb.Projects("acme"); len(got) != 0 {
		t.Errorf("invalid requests created projects: %+v", got)
	}
}

type projectJSON struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	Slug       string `json:"slug"`
	TeamID     int64  `json:"teamId"`
	CreateTime int64  `json:"createTime"`
}

func TestProjectLifecycle(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	ada, grace := f.login(t, sandbox.UserAda), f.login(t, sandbox.UserGrace)

	first := f.createProject(t, ada, "acme", "Tic Tac Toe!")
	if first.ProjectSlug != "tic-tac-toe" || first.TeamSlug != "acme" || first.ProjectID <= 0 ||
		first.AdminKey == "" || first.ProjectsRemaining != sandbox.AcmeProjectQuota-1 {
		t.Errorf("create answered %+v", first)
	}
	if first.ProdURL != f.base+"/d/"+first.DeploymentName {
		t.Errorf("prodUrl %q", first.ProdURL)
	}
	second := f.createProject(t, ada, "acme", "tic tac toe")
	if second.ProjectSlug != "tic-tac-toe-2" || second.DeploymentName == first.DeploymentName || second.ProjectID == first.ProjectID {
		t.Errorf("second project %+v collides with %+v", second, first)
	}

	t.Run("authorize", func(t *testing.T) {
		key := f.deployKey(t, ada, first)
		if !strings.HasPrefix(key, "project:acme:tic-tac-toe|") {
			t.Errorf("deploy key %q", key)
		}
		tests := []struct {
			name   string
			token  string
			body   any
			status int
		}{
			{"authn_token is not the bearer", ada, authorizeBody(f.login(t, sandbox.UserAda), first.ProjectID, testClientSecret), 401},
			{"wrong client secret", ada, authorizeBody(ada, first.ProjectID, "wrong"), 401},
			{"unknown client", ada, map[string]any{"authn_token": ada, "projectId": first.ProjectID, "oauthApp": map[string]string{"clientId": "x", "clientSecret": "y"}}, 401},
			{"not the user's project", grace, authorizeBody(grace, first.ProjectID, testClientSecret), 404},
			{"no such project", ada, authorizeBody(ada, 999, testClientSecret), 404},
			{"no project id", ada, map[string]any{"authn_token": ada, "oauthApp": map[string]string{"clientId": testClientID, "clientSecret": testClientSecret}}, 400},
		}
		for _, tt := range tests {
			rp := f.api(t, "POST", "/api/dashboard/authorize", tt.token, tt.body)
			if rp.status != tt.status {
				t.Errorf("%s: %d %s, want %d", tt.name, rp.status, rp.body, tt.status)
			}
		}
	})

	var listed []projectJSON
	f.api(t, "GET", "/api/teams/acme/projects", ada, nil).decode(t, &listed)
	if len(listed) != 2 || listed[0].ID != first.ProjectID || listed[0].Name != "Tic Tac Toe!" ||
		listed[0].Slug != "tic-tac-toe" || listed[0].TeamID != 1 || listed[0].CreateTime < 1_600_000_000_000 {
		t.Errorf("list %+v", listed)
	}

	if rp := f.api(t, "POST", fmt.Sprintf("/api/dashboard/delete_project/%d", first.ProjectID), grace, nil); rp.status != http.StatusNotFound {
		t.Errorf("grace deleting ada's project: %d, want 404", rp.status)
	}
	rp := f.api(t, "POST", fmt.Sprintf("/api/dashboard/delete_project/%d", first.ProjectID), ada, nil)
	if rp.status != http.StatusOK || strings.TrimSpace(string(rp.body)) != "{}" {
		t.Fatalf("delete: %d %s", rp.status, rp.body)
	}
	if rp := f.api(t, "POST", fmt.Sprintf("/api/dashboard/delete_project/%d", first.ProjectID), ada, nil); rp.status != http.StatusNotFound {
		t.Errorf("second delete: %d, want 404", rp.status)
	}
	if rp := f.api(t, "POST", "/api/dashboard/delete_project/abc", ada, nil); rp.status != http.StatusBadRequest {
		t.Errorf("delete abc: %d, want 400", rp.status)
	}
	live := f.sb.Projects("acme")
	if len(live) != 1 || live[0].ID != second.ProjectID || live[0].DeploymentName != second.DeploymentName || live[0].TeamID != 1 {
		t.Errorf("live projects %+v", live)
	}
	// Deleting frees quota: the next create has the freed slot.
	if third := f.createProject(t, ada, "acme", "again"); third.ProjectsRemaining != sandbox.AcmeProjectQuota-2 {
		t.Errorf("projectsRemaining after delete %d", third.ProjectsRemaining)
	}
	for op, want := range map[string]int{"create_project": 3, "authorize": 1, "delete_project": 1, "list_projects": 1} {
		if got := f.sb.Calls(op, "acme"); got != want {
			t.Errorf("Calls(%s) = %d, want %d", op, got, want)
		}
	}
}

func TestProjectQuota(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	ada := f.login(t, sandbox.UserAda)
	var ids []int64
	for want := sandbox.NearlyFullProjectQuota - 1; want >= 0; want-- {
		c := f.createProject(t, ada, "nearly-full", "app")
		if c.ProjectsRemaining != want {
			t.Errorf("projectsRemaining %d, want %d", c.ProjectsRemaining, want)
		}
		ids = append(ids, c.ProjectID)
	}
	rp := f.api(t, "POST", "/api/create_project", ada, createBody("nearly-full", "one too many"))
	if rp.status != http.StatusBadRequest || rp.code(t) != "ProjectQuotaReached" {
		t.Errorf("over quota: %d %s", rp.status, rp.body)
	}
	f.api(t, "POST", fmt.Sprintf("/api/dashboard/delete_project/%d", ids[0]), ada, nil)
	if c := f.createProject(t, ada, "nearly-full", "app"); c.ProjectsRemaining != 0 || c.ProjectSlug != "app" {
		t.Errorf("after delete: %+v", c)
	}
}

func TestTokenUsage(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	ada := f.login(t, sandbox.UserAda)
	type info struct {
		Used     int64 `json:"centitokensUsed"`
		Quota    int64 `json:"centitokensQuota"`
		Disabled *bool `json:"isTeamDisabled"`
		Paid     *bool `json:"isPaidPlan"`
	}
	var disabled info
	f.api(t, "GET", "/api/dashboard/teams/disabled/usage/get_token_info", ada, nil).decode(t, &disabled)
	if disabled.Disabled == nil || !*disabled.Disabled || disabled.Paid == nil || *disabled.Paid {
		t.Errorf("disabled team: %+v", disabled)
	}

	var before info
	f.api(t, "GET", "/api/dashboard/teams/acme/usage/get_token_info", ada, nil).decode(t, &before)
	if before.Disabled == nil || *before.Disabled || before.Quota != sandbox.DefaultCentitokensQuota {
		t.Errorf("acme: %+v", before)
	}
	var recorded info
	f.api(t, "POST", "/api/dashboard/teams/acme/usage/record_tokens", ada, map[string]int{"centitokens": 1234}).decode(t, &recorded)
	if recorded.Used != before.Used+1234 || recorded.Quota != before.Quota {
		t.Errorf("record_tokens answered %+v after %+v", recorded, before)
	}
	var after info
	f.api(t, "GET", "/api/dashboard/teams/acme/usage/get_token_info", ada, nil).decode(t, &after)
	if after.Used != recorded.Used {
		t.Errorf("usage %d, want %d", after.Used, recorded.Used)
	}

	for _, body := range []string{`{}`, `{"centitokens": -1}`, `{"centitokens": 1.5}`, `{"centitokens": "7"}`, `{"centitokens": 1e300}`} {
		if rp := f.api(t, "POST", "/api/dashboard/teams/acme/usage/record_tokens", ada, body); rp.status != http.StatusBadRequest {
			t.Errorf("record_tokens %s: %d, want 400", body, rp.status)
		}
	}
}

func TestConcurrentCreatesGetDistinctNames(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	grace := f.login(t, sandbox.UserGrace)
	const n = 20 // hopper-labs' whole quota
	// The goroutines only send; the answers are checked on the test's goroutine.
	replies := make([]reply, n)
	header := apiHeader(t, "Bearer "+grace, "{}")
	var g errgroup.Group
	for i := range n {
		body := jsonBody(t, createBody("hopper-labs", "Same Name"))
		g.Go(func() (err error) {
			replies[i], err = f.trySend(t.Context(), "POST", "/api/create_project", header, body)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	results := make([]created, n)
	for i, rp := range replies {
		if rp.status != http.StatusOK {
			t.Fatalf("create_project %d: %d %s", i, rp.status, rp.body)
		}
		rp.decode(t, &results[i])
	}
	slugs, deployments := map[string]bool{}, map[string]bool{}
	for _, c := range results {
		slugs[c.ProjectSlug] = true
		deployments[c.DeploymentName] = true
	}
	if len(slugs) != n || len(deployments) != n {
		t.Errorf("%d slugs and %d deployments for %d projects", len(slugs), len(deployments), n)
	}
	if got := len(f.sb.Projects("hopper-labs")); got != n {
		t.Errorf("%d projects, want %d", got, n)
	}
}

func TestUnknownRoutesAnswerJSON(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/nope", 404},
		{"GET", "/api/create_project", 405},
		{"DELETE", "/api/dashboard/profile", 405},
	}
	for _, tt := range tests {
		rp := f.send(t, tt.method, tt.path, nil, nil)
		var e map[string]any
		rp.decode(t, &e)
		if rp.status != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, rp.status, tt.status)
		}
	}
}

func TestDemoDataMatchesAPI(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	for _, u := range sandbox.DemoUsers() {
		var teams []teamJSON
		f.api(t, "GET", "/api/dashboard/teams", f.login(t, u.Key), nil).decode(t, &teams)
		if len(teams) != len(u.Teams) {
			t.Fatalf("%s: %d teams, want %d", u.Key, len(teams), len(u.Teams))
		}
		for i, team := range teams {
			want, ok := sandbox.DemoTeam(u.Teams[i])
			if !ok || team.ID != want.ID || team.Name != want.Name || team.Slug != want.Slug || team.ReferralCode != want.ReferralCode {
				t.Errorf("%s: team %+v, want %+v", u.Key, team, want)
			}
		}
	}
}
