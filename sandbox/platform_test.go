package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"chefdeploy/sandbox"
)

// grant returns a team token of user for team, minted as the token
// endpoint would.
func (f *fixture) grant(t *testing.T, user, team string) string {
	t.Helper()
	token, err := f.sb.IssueTeamToken(user, team)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func teamID(t *testing.T, slug string) int64 {
	t.Helper()
	team, ok := sandbox.DemoTeam(slug)
	if !ok {
		t.Fatalf("no demo team %s", slug)
	}
	return team.ID
}

// platformCreated is the Management API's create_project answer.
type platformCreated struct {
	ID             int64  `json:"id"`
	ProjectID      int64  `json:"projectId"`
	Slug           string `json:"slug"`
	DeploymentName string `json:"deploymentName"`
	DeploymentURL  string `json:"deploymentUrl"`
}

func platformCreateBody(name string) map[string]string {
	return map[string]string{"projectName": name, "deploymentType": "dev"}
}

func (f *fixture) platformCreate(t *testing.T, token, team, name string) platformCreated {
	t.Helper()
	rp := f.api(t, "POST", fmt.Sprintf("/v1/teams/%d/create_project", teamID(t, team)), token, platformCreateBody(name))
	if rp.status != http.StatusOK {
		t.Fatalf("create_project in %s: %d %s", team, rp.status, rp.body)
	}
	var c platformCreated
	rp.decode(t, &c)
	return c
}

type listedProject struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	Slug       string `json:"slug"`
	TeamID     int64  `json:"teamId"`
	TeamSlug   string `json:"teamSlug"`
	CreateTime int64  `json:"createTime"`
}

type projectPage struct {
	Items      []listedProject `json:"items"`
	Pagination struct {
		HasMore    bool    `json:"hasMore"`
		NextCursor *string `json:"nextCursor"`
	} `json:"pagination"`
}

// listAll pages through a team's projects as the contract says: nextCursor
// back unchanged until hasMore is false. It returns every item and the
// number of pages.
func (f *fixture) listAll(t *testing.T, token, team string, limit int) ([]listedProject, int) {
	t.Helper()
	var all []listedProject
	cursor := ""
	for pages := 1; ; pages++ {
		path := fmt.Sprintf("/v1/teams/%d/projects?limit=%d", teamID(t, team), limit)
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		rp := f.api(t, "GET", path, token, nil)
		if rp.status != http.StatusOK {
			t.Fatalf("list page %d: %d %s", pages, rp.status, rp.body)
		}
		var page projectPage
		rp.decode(t, &page)
		if len(page.Items) > limit {
			t.Fatalf("page %d has %d items, limit %d", pages, len(page.Items), limit)
		}
		all = append(all, page.Items...)
		if !page.Pagination.HasMore {
			if page.Pagination.NextCursor != nil {
				t.Errorf("last page has nextCursor %q", *page.Pagination.NextCursor)
			}
			return all, pages
		}
		if page.Pagination.NextCursor == nil || *page.Pagination.NextCursor == "" {
			t.Fatalf("page %d: hasMore without nextCursor: %s", pages, rp.body)
		}
		cursor = *page.Pagination.NextCursor
		if pages > 100 {
			t.Fatal("paging never ends")
		}
	}
}

func TestTokenDetails(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	for _, tt := range []struct{ user, team string }{
		{sandbox.UserAda, sandbox.TeamAcme},
		{sandbox.UserAda, sandbox.TeamQuotaReached},
		{sandbox.UserGrace, sandbox.TeamHopperLabs},
	} {
		start := time.Now().UnixMilli()
		token := f.grant(t, tt.user, tt.team)
		if !strings.HasPrefix(token, "team:"+tt.team+"|") {
			t.Errorf("token %q, want prefix team:%s|", token, tt.team)
		}
		rp := f.api(t, "GET", "/v1/token_details", token, nil)
		var raw map[string]any
		rp.decode(t, &raw)
		for _, field := range []string{"type", "id", "teamId", "name", "createTime"} {
			if _, ok := raw[field]; !ok {
				t.Errorf("token_details has no %q: %s", field, rp.body)
			}
		}
		var d tokenDetails
		rp.decode(t, &d)
		if d.Type != "teamToken" || d.TeamID != teamID(t, tt.team) || d.ID <= 0 || d.CreateTime < start {
			t.Errorf("token_details %+v for %s", d, tt.team)
		}
	}
	if got := f.sb.Calls("token_details", sandbox.TeamAcme); got != 1 {
		t.Errorf("Calls(token_details, acme) = %d", got)
	}
}

// TestPlatformProjectLifecycle: create → list in pages → delete, on the same
// state as the provision host's API.
func TestPlatformProjectLifecycle(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	token := f.grant(t, sandbox.UserAda, sandbox.TeamAcme)

	// One project made through the provision host: the same projects.
	builder := f.createProject(t, f.login(t, sandbox.UserAda), sandbox.TeamAcme, "From Builder")
	var made []platformCreated
	for i := range 6 {
		c := f.platformCreate(t, token, sandbox.TeamAcme, fmt.Sprintf("App %d", i))
		if c.ID <= 0 || c.ID != c.ProjectID || c.Slug != fmt.Sprintf("app-%d", i) || c.DeploymentName == "" {
			t.Fatalf("create_project answered %+v", c)
		}
		if c.DeploymentURL != f.base+"/d/"+c.DeploymentName {
			t.Errorf("deploymentUrl %q", c.DeploymentURL)
		}
		made = append(made, c)
	}
	if got := len(f.sb.Projects(sandbox.TeamAcme)); got != 7 {
		t.Fatalf("%d projects in the sandbox, want 7", got)
	}

	tests := []struct {
		limit, pages int
	}{{1, 7}, {2, 4}, {3, 3}, {7, 1}, {100, 1}, {1000, 1}}
	for _, tt := range tests {
		all, pages := f.listAll(t, token, sandbox.TeamAcme, tt.limit)
		if pages != tt.pages || len(all) != 7 {
			t.Errorf("limit %d: %d items in %d pages, want 7 in %d", tt.limit, len(all), pages, tt.pages)
		}
		// Newest first: the last created comes first, the builder's last.
		for i, p := range all {
			if p.TeamID != teamID(t, sandbox.TeamAcme) || p.TeamSlug != sandbox.TeamAcme || p.CreateTime <= 0 {
				t.Errorf("item %+v", p)
			}
			if i > 0 && p.ID >= all[i-1].ID {
				t.Errorf("limit %d: not newest first at %d: %d after %d", tt.limit, i, p.ID, all[i-1].ID)
			}
		}
		if len(all) == 7 && (all[0].ID != made[5].ID || all[6].ID != builder.ProjectID || all[6].Name != "From Builder") {
			t.Errorf("limit %d: order %+v", tt.limit, all)
		}
	}
	if got := f.sb.Calls("list_projects", sandbox.TeamAcme); got != 7+4+3+1+1+1 {
		t.Errorf("Calls(list_projects) = %d", got)
	}

	// A project deleted between pages neither repeats nor hides another.
	rp := f.api(t, "GET", fmt.Sprintf("/v1/teams/%d/projects?limit=2", teamID(t, sandbox.TeamAcme)), token, nil)
	var first projectPage
	rp.decode(t, &first)
	del := f.api(t, "POST", fmt.Sprintf("/v1/projects/%d/delete", made[3].ID), token, nil)
	if del.status != http.StatusOK || len(del.body) != 0 {
		t.Fatalf("delete: %d %q, want 200 with an empty body", del.status, del.body)
	}
	rp = f.api(t, "GET", fmt.Sprintf("/v1/teams/%d/projects?limit=100&cursor=%s", teamID(t, sandbox.TeamAcme), *first.Pagination.NextCursor), token, nil)
	var rest projectPage
	rp.decode(t, &rest)
	var ids []int64
	for _, p := range append(first.Items, rest.Items...) {
		ids = append(ids, p.ID)
	}
	want := []int64{made[5].ID, made[4].ID, made[2].ID, made[1].ID, made[0].ID, builder.ProjectID}
	if !slices.Equal(ids, want) {
		t.Errorf("after a delete between pages: %v, want %v", ids, want)
	}

	// The deleted project is gone from both APIs, with its deployment.
	var builderList []projectJSON
	f.api(t, "GET", "/api/teams/acme/projects", f.login(t, sandbox.UserAda), nil).decode(t, &builderList)
	if len(builderList) != 6 || slices.ContainsFunc(builderList, func(p projectJSON) bool { return p.ID == made[3].ID }) {
		t.Errorf("provision host lists %+v", builderList)
	}
	if rp := f.api(t, "POST", "/v1/deployments/"+made[3].DeploymentName+"/create_deploy_key", token, map[string]string{"name": "k"}); rp.status != http.StatusNotFound {
		t.Errorf("deploy key for a deleted deployment: %d", rp.status)
	}
	if rp := f.api(t, "POST", fmt.Sprintf("/v1/projects/%d/delete", made[3].ID), token, nil); rp.status != http.StatusNotFound || rp.code(t) != "ProjectNotFound" {
		t.Errorf("second delete: %d %s", rp.status, rp.body)
	}
	// A project made here is deleted through the provision host as well.
	if rp := f.api(t, "POST", fmt.Sprintf("/api/dashboard/delete_project/%d", made[0].ID), f.login(t, sandbox.UserAda), nil); rp.status != http.StatusOK {
		t.Errorf("provision host delete: %d %s", rp.status, rp.body)
	}
	if all, _ := f.listAll(t, token, sandbox.TeamAcme, 100); len(all) != 5 {
		t.Errorf("%d projects after two deletes, want 5", len(all))
	}
}

func TestPlatformListParameters(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	token := f.grant(t, sandbox.UserAda, sandbox.TeamAcme)
	base := fmt.Sprintf("/v1/teams/%d/projects", teamID(t, sandbox.TeamAcme))
	tests := []struct {
		query  string
		status int
		code   string
	}{
		{"", 200, ""},
		{"?limit=100&cursor=", 200, ""},
		{"?limit=5000", 200, ""}, // above the maximum: a full page
		{"?limit=0", 400, "InvalidLimit"},
		{"?limit=-1", 400, "InvalidLimit"},
		{"?limit=ten", 400, "InvalidLimit"},
		{"?cursor=not-a-cursor", 400, "InvalidCursor"},
		{"?cursor=%00", 400, "InvalidCursor"},
	}
	for _, tt := range tests {
		rp := f.api(t, "GET", base+tt.query, token, nil)
		if rp.status != tt.status {
			t.Errorf("%q: %d %s, want %d", tt.query, rp.status, rp.body, tt.status)
			continue
		}
		if tt.code != "" && rp.code(t) != tt.code {
			t.Errorf("%q: %s, want code %s", tt.query, rp.body, tt.code)
		}
		if tt.status == 200 {
			var page projectPage
			rp.decode(t, &page)
			if page.Items == nil || page.Pagination.HasMore {
				t.Errorf("%q: empty team answered %s", tt.query, rp.body)
			}
		}
	}
}

type listedKey struct {
	ID             json.Number `json:"id"`
	Name           string      `json:"name"`
	CreationTime   int64       `json:"creationTime"`
	AllowedActions []string    `json:"allowedActions"`
}

func (f *fixture) createKey(t *testing.T, token, deployment, name string) string {
	t.Helper()
	rp := f.api(t, "POST", "/v1/deployments/"+deployment+"/create_deploy_key", token, map[string]string{"name": name})
	if rp.status != http.StatusOK {
		t.Fatalf("create_deploy_key: %d %s", rp.status, rp.body)
	}
	var k struct {
		DeployKey string `json:"deployKey"`
	}
	rp.decode(t, &k)
	if !strings.HasPrefix(k.DeployKey, "dev:"+deployment+"|") || len(k.DeployKey) < len(deployment)+40 {
		t.Fatalf("deployKey %q, want dev:%s|…", k.DeployKey, deployment)
	}
	return k.DeployKey
}

func (f *fixture) listKeys(t *testing.T, token, deployment string) []listedKey {
	t.Helper()
	rp := f.api(t, "GET", "/v1/deployments/"+deployment+"/list_deploy_keys", token, nil)
	if rp.status != http.StatusOK {
		t.Fatalf("list_deploy_keys: %d %s", rp.status, rp.body)
	}
	if strings.Contains(string(rp.body), "sbxk_") || strings.Contains(string(rp.body), "|") {
		t.Errorf("the list shows a secret: %s", rp.body)
	}
	var keys []listedKey
	rp.decode(t, &keys)
	return keys
}

func TestDeployKeys(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	token := f.grant(t, sandbox.UserAda, sandbox.TeamAcme)
	c := f.platformCreate(t, token, sandbox.TeamAcme, "keys")
	if keys := f.listKeys(t, token, c.DeploymentName); len(keys) != 0 {
		t.Fatalf("a new deployment lists keys: %+v", keys)
	}

	appKey := f.createKey(t, token, c.DeploymentName, "chefdeploy-app-1")
	otherKey := f.createKey(t, token, c.DeploymentName, "someone-else")
	if appKey == otherKey {
		t.Fatal("two keys are the same")
	}
	for _, key := range []string{appKey, otherKey} {
		rp := f.deployment(t, c.DeploymentName, "update_environment_variables", key, map[string]any{"changes": []map[string]string{{"name": "K", "value": "v"}}})
		if rp.status != http.StatusOK {
			t.Fatalf("env update with a deploy key: %d %s", rp.status, rp.body)
		}
		if rp := f.listEnv(t, c.DeploymentName, key); rp.status != http.StatusOK {
			t.Fatalf("env list with a deploy key: %d %s", rp.status, rp.body)
		}
	}
	if got := f.sb.Env(c.DeploymentName)["K"]; got != "v" {
		t.Errorf("K = %q", got)
	}

	keys := f.listKeys(t, token, c.DeploymentName)
	if len(keys) != 2 || keys[0].Name != "chefdeploy-app-1" || keys[1].Name != "someone-else" {
		t.Fatalf("keys %+v", keys)
	}
	for _, k := range keys {
		if _, err := k.ID.Int64(); err != nil || k.CreationTime <= 0 || k.AllowedActions == nil {
			t.Errorf("key %+v", k)
		}
	}

	// A key of one deployment opens no other.
	d := f.platformCreate(t, token, sandbox.TeamAcme, "other")
	if rp := f.listEnv(t, d.DeploymentName, appKey); rp.status != http.StatusUnauthorized {
		t.Errorf("another deployment's key: %d", rp.status)
	}

	// delete_deploy_key takes the key's name in "id".
	rp := f.api(t, "POST", "/v1/deployments/"+c.DeploymentName+"/delete_deploy_key", token, map[string]string{"id": "chefdeploy-app-1"})
	if rp.status != http.StatusOK || len(rp.body) != 0 {
		t.Fatalf("delete_deploy_key: %d %q, want 200 with an empty body", rp.status, rp.body)
	}
	if rp := f.listEnv(t, c.DeploymentName, appKey); rp.status != http.StatusUnauthorized || rp.code(t) != "BadAdminKey" {
		t.Errorf("deleted key: %d %s, want 401", rp.status, rp.body)
	}
	if rp := f.listEnv(t, c.DeploymentName, otherKey); rp.status != http.StatusOK {
		t.Errorf("the other key after a delete: %d", rp.status)
	}
	if keys := f.listKeys(t, token, c.DeploymentName); len(keys) != 1 || keys[0].Name != "someone-else" {
		t.Errorf("keys after delete %+v", keys)
	}
	rp = f.api(t, "POST", "/v1/deployments/"+c.DeploymentName+"/delete_deploy_key", token, map[string]string{"id": "chefdeploy-app-1"})
	if rp.status != http.StatusNotFound || rp.code(t) != "DeployKeyNotFound" {
		t.Errorf("second delete: %d %s", rp.status, rp.body)
	}

	// Keys of the same name all go together.
	a := f.createKey(t, token, c.DeploymentName, "twice")
	b := f.createKey(t, token, c.DeploymentName, "twice")
	if rp := f.api(t, "POST", "/v1/deployments/"+c.DeploymentName+"/delete_deploy_key", token, map[string]string{"id": "twice"}); rp.status != http.StatusOK {
		t.Fatalf("delete twice: %d", rp.status)
	}
	for _, key := range []string{a, b} {
		if rp := f.listEnv(t, c.DeploymentName, key); rp.status != http.StatusUnauthorized {
			t.Errorf("a key named twice after delete: %d", rp.status)
		}
	}

	// Revoking the grant leaves the keys it made working (CONTRACT §3.2).
	if _, err := f.sb.RevokeToken(token); err != nil {
		t.Fatal(err)
	}
	if rp := f.listEnv(t, c.DeploymentName, otherKey); rp.status != http.StatusOK {
		t.Errorf("a key after its grant was revoked: %d", rp.status)
	}

	// Deleting the project deletes its keys.
	token2 := f.grant(t, sandbox.UserAda, sandbox.TeamAcme)
	if rp := f.api(t, "POST", fmt.Sprintf("/v1/projects/%d/delete", c.ID), token2, nil); rp.status != http.StatusOK {
		t.Fatalf("delete project: %d", rp.status)
	}
	if rp := f.listEnv(t, c.DeploymentName, otherKey); rp.status != http.StatusNotFound {
		t.Errorf("a key of a deleted project: %d, want 404", rp.status)
	}
	for op, want := range map[string]int{"create_deploy_key": 4, "delete_deploy_key": 3, "list_deploy_keys": 3} {
		if got := f.sb.Calls(op, sandbox.TeamAcme); got != want {
			t.Errorf("Calls(%s) = %d, want %d", op, got, want)
		}
	}
}

func TestDeployKeysSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	before := setup(t, sandbox.Options{StateDir: dir})
	token := before.grant(t, sandbox.UserGrace, sandbox.TeamHopperLabs)
	c := before.platformCreate(t, token, sandbox.TeamHopperLabs, "kept")
	key := before.createKey(t, token, c.DeploymentName, "k1")
	after := setup(t, sandbox.Options{StateDir: dir})
	if rp := after.listEnv(t, c.DeploymentName, key); rp.status != http.StatusOK {
		t.Errorf("key after restart: %d %s", rp.status, rp.body)
	}
	after.createKey(t, token, c.DeploymentName, "k2")
	keys := after.listKeys(t, token, c.DeploymentName)
	if len(keys) != 2 || keys[0].ID == keys[1].ID {
		t.Errorf("keys after restart %+v", keys)
	}
}

// TestTeamTokenCoversOneTeam: a token used on any other team, even one its
// person belongs to, is refused and changes nothing. Team ids answer 403;
// projects and deployments the token cannot see answer 404.
func TestTeamTokenCoversOneTeam(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	acme := f.grant(t, sandbox.UserAda, sandbox.TeamAcme)
	nearlyFull := f.grant(t, sandbox.UserAda, sandbox.TeamNearlyFull)
	hopper := f.grant(t, sandbox.UserGrace, sandbox.TeamHopperLabs)
	hopperProject := f.platformCreate(t, hopper, sandbox.TeamHopperLabs, "grace's")
	hopperKey := f.createKey(t, hopper, hopperProject.DeploymentName, "k")
	nfProject := f.platformCreate(t, nearlyFull, sandbox.TeamNearlyFull, "ada's other")

	tests := []struct {
		name         string
		method, path string
		body         any
		status       int
		code         string
	}{
		{"create in another's team", "POST", fmt.Sprintf("/v1/teams/%d/create_project", teamID(t, sandbox.TeamHopperLabs)), platformCreateBody("x"), 403, "Forbidden"},
		{"create in the person's other team", "POST", fmt.Sprintf("/v1/teams/%d/create_project", teamID(t, sandbox.TeamNearlyFull)), platformCreateBody("x"), 403, "Forbidden"},
		{"create in a team that does not exist", "POST", "/v1/teams/999999/create_project", platformCreateBody("x"), 403, "Forbidden"},
		{"list another's team", "GET", fmt.Sprintf("/v1/teams/%d/projects", teamID(t, sandbox.TeamHopperLabs)), nil, 403, "Forbidden"},
		{"list the person's other team", "GET", fmt.Sprintf("/v1/teams/%d/projects", teamID(t, sandbox.TeamNearlyFull)), nil, 403, "Forbidden"},
		{"delete another's project", "POST", fmt.Sprintf("/v1/projects/%d/delete", hopperProject.ID), nil, 404, "ProjectNotFound"},
		{"delete the person's other project", "POST", fmt.Sprintf("/v1/projects/%d/delete", nfProject.ID), nil, 404, "ProjectNotFound"},
		{"key for another's deployment", "POST", "/v1/deployments/" + hopperProject.DeploymentName + "/create_deploy_key", map[string]string{"name": "x"}, 404, "DeploymentNotFound"},
		{"list another's keys", "GET", "/v1/deployments/" + hopperProject.DeploymentName + "/list_deploy_keys", nil, 404, "DeploymentNotFound"},
		{"delete another's key", "POST", "/v1/deployments/" + hopperProject.DeploymentName + "/delete_deploy_key", map[string]string{"id": "k"}, 404, "DeploymentNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rp := f.api(t, tt.method, tt.path, acme, tt.body)
			if rp.status != tt.status || rp.code(t) != tt.code {
				t.Errorf("%d %s, want %d %s", rp.status, rp.body, tt.status, tt.code)
			}
		})
	}
	// Cleanup runs once the parallel cases are done.
	t.Cleanup(func() {
		// Nothing of the other teams changed.
		if got := f.sb.Projects(sandbox.TeamHopperLabs); len(got) != 1 {
			t.Errorf("hopper-labs projects %+v", got)
		}
		if got := f.sb.Projects(sandbox.TeamNearlyFull); len(got) != 1 {
			t.Errorf("nearly-full projects %+v", got)
		}
		if got := f.sb.Calls("create_project", sandbox.TeamHopperLabs); got != 1 {
			t.Errorf("Calls(create_project, hopper-labs) = %d", got)
		}
		rp, err := f.trySend(context.Background(), "GET", "/d/"+hopperProject.DeploymentName+"/api/v1/list_environment_variables", apiHeader(t, convexAuth(hopperKey), nil), nil)
		if err != nil || rp.status != http.StatusOK {
			t.Errorf("grace's key: %v %d", err, rp.status)
		}
	})
}

// TestPlatformRequiresLiveTeamToken: every call answers 401 Unauthenticated
// without a live team token.
func TestPlatformRequiresLiveTeamToken(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	live := f.grant(t, sandbox.UserAda, sandbox.TeamAcme)
	c := f.platformCreate(t, live, sandbox.TeamAcme, "p")
	revoked := f.grant(t, sandbox.UserAda, sandbox.TeamAcme)
	if ok, err := f.sb.RevokeToken(revoked); err != nil || !ok {
		t.Fatalf("RevokeToken = %v, %v", ok, err)
	}
	acme := teamID(t, sandbox.TeamAcme)
	calls := []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/token_details", nil},
		{"POST", fmt.Sprintf("/v1/teams/%d/create_project", acme), platformCreateBody("x")},
		{"GET", fmt.Sprintf("/v1/teams/%d/projects", acme), nil},
		{"POST", fmt.Sprintf("/v1/projects/%d/delete", c.ID), nil},
		{"POST", "/v1/deployments/" + c.DeploymentName + "/create_deploy_key", map[string]string{"name": "k"}},
		{"POST", "/v1/deployments/" + c.DeploymentName + "/delete_deploy_key", map[string]string{"id": "k"}},
		{"GET", "/v1/deployments/" + c.DeploymentName + "/list_deploy_keys", nil},
	}
	credentials := []struct{ name, authorization string }{
		{"none", ""},
		{"revoked", "Bearer " + revoked},
		{"unknown", "Bearer team:acme|sbxt_made-up"},
		{"login token", "Bearer " + f.login(t, sandbox.UserAda)},
		{"other scheme", "Convex " + live},
	}
	for _, call := range calls {
		for _, cred := range credentials {
			rp := f.sendCtx(t, t.Context(), call.method, call.path, apiHeader(t, cred.authorization, call.body), jsonBody(t, call.body))
			if rp.status != http.StatusUnauthorized || rp.code(t) != "Unauthenticated" {
				t.Errorf("%s %s with %s: %d %s, want 401 Unauthenticated", call.method, call.path, cred.name, rp.status, rp.body)
			}
		}
	}
	if got := len(f.sb.Projects(sandbox.TeamAcme)); got != 1 {
		t.Errorf("%d projects, want 1", got)
	}
}

func TestPlatformFailureTeams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		team     string
		statuses []int  // answers to consecutive create_project calls
		body     string // exact body of the first answer, when fixed
		code     string // code of the first answer, when it fails
		keyCode  int    // create_deploy_key's answer on a created project
	}{
		{team: sandbox.TeamQuotaReached, statuses: []int{400, 400},
			body: `{"code":"ProjectQuotaReached","message":"Team has reached the maximum number of projects."}`},
		{team: sandbox.TeamSSORequired, statuses: []int{403, 403}, code: "SSORequired"},
		{team: sandbox.TeamExpiredSession, statuses: []int{401, 401}, code: "Unauthenticated"},
		{team: sandbox.TeamFlaky, statuses: []int{500, 500, 200, 500, 500, 200}, code: "InternalServerError", keyCode: 200},
		{team: sandbox.TeamRateLimited, statuses: []int{429, 200, 429, 200}, code: "RateLimited", keyCode: 200},
		{team: sandbox.TeamAuthorizeFails, statuses: []int{200, 200}, keyCode: 403},
		{team: sandbox.TeamAcme, statuses: []int{200, 200}, keyCode: 200},
	}
	for _, tt := range tests {
		t.Run(tt.team, func(t *testing.T) {
			t.Parallel()
			f := setup(t, sandbox.Options{})
			token := f.grant(t, sandbox.UserAda, tt.team)
			path := fmt.Sprintf("/v1/teams/%d/create_project", teamID(t, tt.team))
			var created []platformCreated
			for i, want := range tt.statuses {
				rp := f.api(t, "POST", path, token, platformCreateBody("app"))
				if rp.status != want {
					t.Fatalf("call %d: %d %s, want %d", i+1, rp.status, rp.body, want)
				}
				if want == http.StatusTooManyRequests && rp.header.Get("Retry-After") != "1" {
					t.Errorf("call %d: Retry-After %q, want 1", i+1, rp.header.Get("Retry-After"))
				}
				if want == http.StatusOK {
					var c platformCreated
					rp.decode(t, &c)
					created = append(created, c)
				}
				if i > 0 {
					continue
				}
				if tt.body != "" && string(rp.body) != tt.body {
					t.Errorf("body %s, want %s", rp.body, tt.body)
				}
				if tt.code != "" && rp.code(t) != tt.code {
					t.Errorf("code of %s, want %s", rp.body, tt.code)
				}
			}
			if got := f.sb.Calls("create_project", tt.team); got != len(tt.statuses) {
				t.Errorf("Calls = %d, want %d", got, len(tt.statuses))
			}
			if got := len(f.sb.Projects(tt.team)); got != len(created) {
				t.Errorf("%d projects, want %d", got, len(created))
			}
			// A failure of create_project is no revocation: the token works on.
			if rp := f.api(t, "GET", "/v1/token_details", token, nil); rp.status != http.StatusOK {
				t.Errorf("token_details after the failures: %d", rp.status)
			}
			if len(created) == 0 {
				return
			}
			rp := f.api(t, "POST", "/v1/deployments/"+created[0].DeploymentName+"/create_deploy_key", token, map[string]string{"name": "k"})
			if rp.status != tt.keyCode {
				t.Errorf("create_deploy_key: %d %s, want %d", rp.status, rp.body, tt.keyCode)
			}
			var v map[string]any
			rp.decode(t, &v) // JSON either way
		})
	}
}

// TestFailureTeamsShareTheirCycle: both APIs count the same create_project
// calls, so a flaky team fails twice whichever API is asked.
func TestFailureTeamsShareTheirCycle(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	token := f.grant(t, sandbox.UserAda, sandbox.TeamFlaky)
	if rp := f.api(t, "POST", "/api/create_project", f.login(t, sandbox.UserAda), createBody(sandbox.TeamFlaky, "a")); rp.status != 500 {
		t.Fatalf("provision host: %d", rp.status)
	}
	path := fmt.Sprintf("/v1/teams/%d/create_project", teamID(t, sandbox.TeamFlaky))
	for i, want := range []int{500, 200} {
		if rp := f.api(t, "POST", path, token, platformCreateBody("a")); rp.status != want {
			t.Errorf("management call %d: %d, want %d", i+1, rp.status, want)
		}
	}
}

func TestPlatformMalformedTeam(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	token := f.grant(t, sandbox.UserAda, sandbox.TeamMalformed)
	rp := f.api(t, "POST", fmt.Sprintf("/v1/teams/%d/create_project", teamID(t, sandbox.TeamMalformed)), token, platformCreateBody("app"))
	if rp.status != http.StatusOK || rp.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q", rp.status, rp.header.Get("Content-Type"))
	}
	if json.Valid(rp.body) {
		t.Errorf("body is valid JSON: %s", rp.body)
	}
	// The project exists, so listing finds what the broken answer hid.
	all, _ := f.listAll(t, token, sandbox.TeamMalformed, 100)
	if len(all) != 1 || all[0].Name != "app" {
		t.Errorf("listed %+v", all)
	}
}

func TestPlatformSlowAndBlackHoleTeams(t *testing.T) {
	t.Parallel()
	const delay = 150 * time.Millisecond
	f := setup(t, sandbox.Options{SlowDelay: delay})
	slow := f.grant(t, sandbox.UserAda, sandbox.TeamSlow)
	start := time.Now()
	f.platformCreate(t, slow, sandbox.TeamSlow, "patient")
	if took := time.Since(start); took < delay {
		t.Errorf("slow answered after %v, want at least %v", took, delay)
	}

	hole := f.grant(t, sandbox.UserAda, sandbox.TeamBlackHole)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	path := fmt.Sprintf("/v1/teams/%d/create_project", teamID(t, sandbox.TeamBlackHole))
	_, err := f.trySend(ctx, "POST", path, apiHeader(t, "Bearer "+hole, "{}"), jsonBody(t, platformCreateBody("app")))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("black hole: err = %v, want the client's deadline", err)
	}
	if got := f.sb.Projects(sandbox.TeamBlackHole); len(got) != 0 {
		t.Errorf("black hole created %+v", got)
	}
	if got := f.sb.Calls("create_project", sandbox.TeamBlackHole); got != 1 {
		t.Errorf("Calls(black-hole) = %d", got)
	}
}

func TestPlatformBadBodies(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	token := f.grant(t, sandbox.UserAda, sandbox.TeamAcme)
	c := f.platformCreate(t, token, sandbox.TeamAcme, "p")
	create := fmt.Sprintf("/v1/teams/%d/create_project", teamID(t, sandbox.TeamAcme))
	createKey := "/v1/deployments/" + c.DeploymentName + "/create_deploy_key"
	deleteKey := "/v1/deployments/" + c.DeploymentName + "/delete_deploy_key"
	huge := `{"projectName":"` + strings.Repeat("a", 2<<20) + `","deploymentType":"dev"}`
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"broken JSON", "POST", create, "application/json", `{"projectName":`, 400, "BadJsonBody"},
		{"not an object", "POST", create, "application/json", `[]`, 400, "BadJsonBody"},
		{"wrong type", "POST", create, "application/json", `{"projectName":7,"deploymentType":"dev"}`, 400, "BadJsonBody"},
		{"trailing data", "POST", create, "application/json", `{"projectName":"a","deploymentType":"dev"} {}`, 400, "BadJsonBody"},
		{"empty body", "POST", create, "application/json", ``, 400, "BadJsonBody"},
		{"form body", "POST", create, "application/x-www-form-urlencoded", `projectName=a`, 400, "BadJsonBody"},
		{"too large", "POST", create, "application/json", huge, 413, "RequestTooLarge"},
		{"no name", "POST", create, "application/json", `{"deploymentType":"dev"}`, 400, "InvalidProjectName"},
		{"blank name", "POST", create, "application/json", `{"projectName":"  ","deploymentType":"dev"}`, 400, "InvalidProjectName"},
		{"control character", "POST", create, "application/json", `{"projectName":"a\u0007b","deploymentType":"dev"}`, 400, "InvalidProjectName"},
		{"no deployment type", "POST", create, "application/json", `{"projectName":"a"}`, 400, "InvalidDeploymentType"},
		{"unknown deployment type", "POST", create, "application/json", `{"projectName":"a","deploymentType":"staging"}`, 400, "InvalidDeploymentType"},
		{"unknown fields are fine", "POST", create, "application/json", `{"projectName":"a","deploymentType":"dev","team":"hopper-labs","extra":{"x":1}}`, 200, ""},
		{"team id not a number", "POST", "/v1/teams/acme/create_project", "application/json", `{"projectName":"a","deploymentType":"dev"}`, 400, "InvalidTeamId"},
		{"project id not a number", "POST", "/v1/projects/abc/delete", "", ``, 400, "InvalidProjectId"},
		{"key without a name", "POST", createKey, "application/json", `{}`, 400, "InvalidDeployKeyName"},
		{"key name too long", "POST", createKey, "application/json", `{"name":"` + strings.Repeat("k", 300) + `"}`, 400, "InvalidDeployKeyName"},
		{"key name with a newline", "POST", createKey, "application/json", `{"name":"a\nb"}`, 400, "InvalidDeployKeyName"},
		{"key body broken", "POST", createKey, "application/json", `{"name"`, 400, "BadJsonBody"},
		{"delete key by number", "POST", deleteKey, "application/json", `{"id":1}`, 400, "BadJsonBody"},
		{"delete key without id", "POST", deleteKey, "application/json", `{}`, 400, "InvalidDeployKeyName"},
		{"wrong method", "GET", create, "", ``, 405, "MethodNotAllowed"},
		{"unknown endpoint", "GET", "/v1/teams/1/nothing", "", ``, 404, "NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{"Authorization": {"Bearer " + token}}
			if tt.contentType != "" {
				h.Set("Content-Type", tt.contentType)
			}
			rp := f.send(t, tt.method, tt.path, h, strings.NewReader(tt.body))
			if rp.status != tt.status {
				t.Fatalf("%d %.300s, want %d", rp.status, rp.body, tt.status)
			}
			if tt.code != "" {
				var e struct{ Code, Message string }
				rp.decode(t, &e)
				if e.Code != tt.code || e.Message == "" {
					t.Errorf("%s, want code %s with a message", rp.body, tt.code)
				}
			}
		})
	}
	// Cleanup runs once the parallel cases are done.
	t.Cleanup(func() {
		if got := len(f.sb.Projects(sandbox.TeamAcme)); got != 2 {
			t.Errorf("%d projects, want 2 (only the good ones)", got)
		}
		if got := len(f.sb.Projects(sandbox.TeamHopperLabs)); got != 0 {
			t.Errorf("a team field in the body created in hopper-labs")
		}
	})
}
