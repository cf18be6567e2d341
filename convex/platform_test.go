package convex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// platformBundle is what a Platform test needs: the client and the server
// it talks to.
type platformBundle struct {
	p   *Platform
	srv *testServer
}

func setupPlatform(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int), opts ...func(*Options)) platformBundle {
	t.Helper()
	ts := startServer(t, handle)
	o := Options{BaseURL: ts.URL + "/", BaseBackoff: time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	return platformBundle{p: NewPlatform(o), srv: ts}
}

// platformCall is one Platform method called with the test's team token.
type platformCall struct {
	name string
	call func(ctx context.Context, p *Platform) error
	// answer is a valid success body for the call.
	answer string
}

const (
	tokenDetailsAnswer  = `{"type":"teamToken","id":9,"teamId":42,"name":"chefdeploy","createTime":1700000000123}`
	createProjectAnswer = `{"id":7,"projectId":7,"slug":"tic-tac-toe","deploymentName":"happy-otter-123","deploymentUrl":"https://happy-otter-123.convex.cloud"}`
	lastPageAnswer      = `{"items":[],"pagination":{"hasMore":false}}`
	deployKeyAnswer     = `{"deployKey":"dev:happy-otter-123|ey-new-key"}`
)

// platformCalls lists every Platform call, for the tables that check all.
func platformCalls(token string) []platformCall {
	return []platformCall{
		{"token_details", func(ctx context.Context, p *Platform) error { _, err := p.TokenDetails(ctx, token); return err }, tokenDetailsAnswer},
		{"create_project", func(ctx context.Context, p *Platform) error {
			_, err := p.CreateProject(ctx, token, 42, "Tic Tac Toe")
			return err
		}, createProjectAnswer},
		{"list_projects", func(ctx context.Context, p *Platform) error { _, err := p.ListProjects(ctx, token, 42); return err }, lastPageAnswer},
		{"delete_project", func(ctx context.Context, p *Platform) error { return p.DeleteProject(ctx, token, 7) }, ``},
		{"create_deploy_key", func(ctx context.Context, p *Platform) error {
			_, err := p.CreateDeployKey(ctx, token, "happy-otter-123", "chefdeploy-app1-1")
			return err
		}, deployKeyAnswer},
		{"delete_deploy_key", func(ctx context.Context, p *Platform) error {
			return p.DeleteDeployKey(ctx, token, "happy-otter-123", "chefdeploy-app1-1")
		}, ``},
		{"list_deploy_keys", func(ctx context.Context, p *Platform) error {
			_, err := p.ListDeployKeys(ctx, token, "happy-otter-123")
			return err
		}, `[]`},
	}
}

// TestPlatformRequestShape checks what each call puts on the wire.
func TestPlatformRequestShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		call      func(ctx context.Context, p *Platform) error
		answer    string
		method    string
		path      string // escaped, as sent
		query     string
		wantBody  string // exact bytes; "" = no body
		wantCType string
	}{
		{
			name:   "token_details",
			call:   func(ctx context.Context, p *Platform) error { _, err := p.TokenDetails(ctx, teamToken); return err },
			answer: tokenDetailsAnswer, method: "GET", path: "/v1/token_details",
		},
		{
			name: "create_project",
			call: func(ctx context.Context, p *Platform) error {
				_, err := p.CreateProject(ctx, teamToken, 42, "Tic Tac Toe")
				return err
			},
			answer: createProjectAnswer, method: "POST", path: "/v1/teams/42/create_project",
			wantBody: `{"projectName":"Tic Tac Toe","deploymentType":"dev"}`, wantCType: "application/json",
		},
		{
			name:   "list_projects first page has no cursor",
			call:   func(ctx context.Context, p *Platform) error { _, err := p.ListProjects(ctx, teamToken, 42); return err },
			answer: lastPageAnswer, method: "GET", path: "/v1/teams/42/projects", query: "limit=100",
		},
		{
			name:   "delete_project",
			call:   func(ctx context.Context, p *Platform) error { return p.DeleteProject(ctx, teamToken, 7) },
			method: "POST", path: "/v1/projects/7/delete",
		},
		{
			name: "create_deploy_key",
			call: func(ctx context.Context, p *Platform) error {
				_, err := p.CreateDeployKey(ctx, teamToken, "happy-otter-123", DeployKeyName("app1", 2))
				return err
			},
			answer: deployKeyAnswer, method: "POST", path: "/v1/deployments/happy-otter-123/create_deploy_key",
			wantBody: `{"name":"chefdeploy-app1-2"}`, wantCType: "application/json",
		},
		{
			name: "delete_deploy_key sends the name as id",
			call: func(ctx context.Context, p *Platform) error {
				return p.DeleteDeployKey(ctx, teamToken, "happy-otter-123", "chefdeploy-app1-2")
			},
			method: "POST", path: "/v1/deployments/happy-otter-123/delete_deploy_key",
			wantBody: `{"id":"chefdeploy-app1-2"}`, wantCType: "application/json",
		},
		{
			name: "list_deploy_keys escapes the deployment name",
			call: func(ctx context.Context, p *Platform) error {
				_, err := p.ListDeployKeys(ctx, teamToken, "a/b c")
				return err
			},
			answer: `[]`, method: "GET", path: "/v1/deployments/a%2Fb%20c/list_deploy_keys",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupPlatform(t, script(ok(tt.answer)))
			if err := tt.call(context.Background(), b.p); err != nil {
				t.Fatal(err)
			}
			reqs := b.srv.requests()
			if len(reqs) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tt.method || r.Path != tt.path || r.Query != tt.query {
				t.Errorf("request = %s %s?%s, want %s %s?%s", r.Method, r.Path, r.Query, tt.method, tt.path, tt.query)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer "+teamToken {
				t.Errorf("Authorization = %q", got)
			}
			if string(r.Body) != tt.wantBody {
				t.Errorf("body = %q, want %q", r.Body, tt.wantBody)
			}
			if got := r.Header.Get("Content-Type"); got != tt.wantCType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantCType)
			}
			if got := r.Header.Get(deploySecretHeader); got != "" {
				t.Errorf("deploy secret header sent to the Management API: %q", got)
			}
		})
	}
}

// TestPlatformAnswers decodes a success answer of each call, with fields the
// contract does not name mixed in.
func TestPlatformAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("token_details", func(t *testing.T) {
		t.Parallel()
		b := setupPlatform(t, script(ok(`{"type":"teamToken","id":9,"teamId":42,"name":"chefdeploy","createTime":1700000000123,"future":{"x":[1,2]}}`)))
		got, err := b.p.TokenDetails(ctx, teamToken)
		want := TokenDetails{ID: 9, TeamID: 42, Name: "chefdeploy", CreateTime: time.UnixMilli(1700000000123).UTC()}
		if err != nil || got != want {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("create_project", func(t *testing.T) {
		t.Parallel()
		b := setupPlatform(t, script(ok(`{"id":7,"projectId":7,"slug":"tic-tac-toe","deploymentName":"happy-otter-123","deploymentUrl":"https://happy-otter-123.convex.cloud","region":"eu","extra":null}`)))
		got, err := b.p.CreateProject(ctx, teamToken, 42, "Tic Tac Toe")
		want := PlatformProject{ID: 7, Slug: "tic-tac-toe", DeploymentName: "happy-otter-123", DeploymentURL: "https://happy-otter-123.convex.cloud"}
		if err != nil || got != want {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("list_projects", func(t *testing.T) {
		t.Parallel()
		b := setupPlatform(t, script(ok(`{"items":[{"id":9,"name":"B","slug":"b","teamId":42,"teamSlug":"acme","createTime":1700000000200,"isDemo":false},{"id":8,"name":"A","slug":"a","teamId":42,"teamSlug":"acme","createTime":1700000000100}],"pagination":{"hasMore":false,"total":2}}`)))
		got, err := b.p.ListProjects(ctx, teamToken, 42)
		want := []Project{
			{ID: 9, Name: "B", Slug: "b", TeamID: 42, TeamSlug: "acme", CreateTime: time.UnixMilli(1700000000200).UTC()},
			{ID: 8, Name: "A", Slug: "a", TeamID: 42, TeamSlug: "acme", CreateTime: time.UnixMilli(1700000000100).UTC()},
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("delete_project empty body", func(t *testing.T) {
		t.Parallel()
		b := setupPlatform(t, script(ok(``)))
		if err := b.p.DeleteProject(ctx, teamToken, 7); err != nil {
			t.Error(err)
		}
	})
	t.Run("create_deploy_key", func(t *testing.T) {
		t.Parallel()
		b := setupPlatform(t, script(ok(`{"deployKey":"dev:happy-otter-123|ey-new-key","id":3}`)))
		got, err := b.p.CreateDeployKey(ctx, teamToken, "happy-otter-123", "chefdeploy-app1-1")
		if err != nil || got != "dev:happy-otter-123|ey-new-key" {
			t.Errorf("got %q, %v", got, err)
		}
	})
	t.Run("delete_deploy_key empty body", func(t *testing.T) {
		t.Parallel()
		b := setupPlatform(t, script(ok(``)))
		if err := b.p.DeleteDeployKey(ctx, teamToken, "happy-otter-123", "chefdeploy-app1-1"); err != nil {
			t.Error(err)
		}
	})
	t.Run("list_deploy_keys", func(t *testing.T) {
		t.Parallel()
		b := setupPlatform(t, script(ok(`[{"id":3,"name":"chefdeploy-app1-1","creationTime":1700000000000,"allowedActions":["deploy","env"],"creator":5},{"id":4,"name":"k","creationTime":1}]`)))
		got, err := b.p.ListDeployKeys(ctx, teamToken, "happy-otter-123")
		want := []DeployKeyInfo{
			{ID: 3, Name: "chefdeploy-app1-1", CreationTime: time.UnixMilli(1700000000000).UTC(), AllowedActions: []string{"deploy", "env"}},
			{ID: 4, Name: "k", CreationTime: time.UnixMilli(1).UTC()},
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
	})
}

func TestPlatformCreateProjectID(t *testing.T) {
	t.Parallel()
	const rest = `"deploymentName":"happy-otter-123","deploymentUrl":"https://happy-otter-123.convex.cloud"`
	tests := []struct {
		name, answer string
		want         int64 // 0 = an invalid answer
	}{
		{"id and projectId", `{"id":7,"projectId":7,` + rest + `}`, 7},
		{"only projectId (older servers)", `{"projectId":8,` + rest + `}`, 8},
		{"only id", `{"id":9,` + rest + `}`, 9},
		{"neither", `{` + rest + `}`, 0},
		{"negative", `{"id":-1,` + rest + `}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupPlatform(t, script(ok(tt.answer)))
			got, err := b.p.CreateProject(context.Background(), teamToken, 42, "P")
			if tt.want == 0 {
				if !errors.Is(err, ErrInvalidResponse) {
					t.Errorf("got %+v, %v; want an invalid response", got, err)
				}
				return
			}
			if err != nil || got.ID != tt.want {
				t.Errorf("got %+v, %v; want id %d", got, err, tt.want)
			}
		})
	}
}

// TestPlatformListProjectsPages reads three pages, each cursor sent back as
// the server gave it, and keeps the server's order.
func TestPlatformListProjectsPages(t *testing.T) {
	t.Parallel()
	// Cursors with characters a URL must escape, to show they come back intact.
	const c1, c2 = "c1+/=?&x y", "c2%2F~é#"
	pages := []struct {
		wantCursor *string // nil = no cursor parameter
		answer     string
	}{
		{nil, `{"items":[{"id":9,"slug":"p9","teamSlug":"acme","createTime":9},{"id":8,"slug":"p8","createTime":8}],"pagination":{"hasMore":true,"nextCursor":"` + c1 + `"}}`},
		{strPtr(c1), `{"items":[{"id":7,"slug":"p7","createTime":7},{"id":6,"slug":"p6","createTime":6}],"pagination":{"hasMore":true,"nextCursor":"` + c2 + `"}}`},
		{strPtr(c2), `{"items":[{"id":5,"slug":"p5","createTime":5}],"pagination":{"hasMore":false}}`},
	}
	b := setupPlatform(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n >= len(pages) {
			t.Errorf("request %d past the last page", n)
			w.WriteHeader(http.StatusNotFound)
			return
		}
		io.WriteString(w, pages[n].answer)
	})
	got, err := b.p.ListProjects(context.Background(), teamToken, 42)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, p := range got {
		ids = append(ids, p.ID)
	}
	if !reflect.DeepEqual(ids, []int64{9, 8, 7, 6, 5}) {
		t.Errorf("ids = %v, want 9..5 in the server's order", ids)
	}
	reqs := b.srv.requests()
	if len(reqs) != len(pages) {
		t.Fatalf("server saw %d requests, want %d", len(reqs), len(pages))
	}
	for i, r := range reqs {
		q, err := url.ParseQuery(r.Query)
		if err != nil {
			t.Fatalf("request %d: query %q: %v", i, r.Query, err)
		}
		if got := q.Get("limit"); got != "100" {
			t.Errorf("request %d: limit = %q", i, got)
		}
		cursor, has := q["cursor"]
		switch want := pages[i].wantCursor; {
		case want == nil && has:
			t.Errorf("request %d: cursor %q sent on the first page", i, cursor)
		case want != nil && (len(cursor) != 1 || cursor[0] != *want):
			t.Errorf("request %d: cursor = %q, want %q unchanged", i, cursor, *want)
		}
		if r.Path != "/v1/teams/42/projects" || r.Header.Get("Authorization") != "Bearer "+teamToken {
			t.Errorf("request %d: %s with %q", i, r.Path, r.Header.Get("Authorization"))
		}
	}
}

// TestPlatformListProjectsBounds: a list that never ends, or that ends in a
// way that would loop, is a clear error and never a partial list.
func TestPlatformListProjectsBounds(t *testing.T) {
	t.Parallel()
	page := func(items int, hasMore bool, cursor string) string {
		var b strings.Builder
		b.WriteString(`{"items":[`)
		for i := range items {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"id":%d,"slug":"p%d","createTime":1}`, i+1, i+1)
		}
		fmt.Fprintf(&b, `],"pagination":{"hasMore":%t`, hasMore)
		if cursor != "" {
			fmt.Fprintf(&b, `,"nextCursor":%q`, cursor)
		}
		b.WriteString("}}")
		return b.String()
	}
	tests := []struct {
		name     string
		maxItems int // 0 = the default
		handle   func(w http.ResponseWriter, r *http.Request, n int)
		wantErr  error
		wantReqs int
		wantMsg  string
	}{
		{
			name: "more pages than MaxProjectPages",
			handle: func(w http.ResponseWriter, _ *http.Request, n int) {
				io.WriteString(w, page(1, true, fmt.Sprintf("c%d", n+1)))
			},
			wantErr: ErrListTooLong, wantReqs: MaxProjectPages,
			wantMsg: "Convex list_projects failed: the list is longer than chefdeploy reads",
		},
		{
			name:     "more items than the bound",
			maxItems: 3,
			handle: func(w http.ResponseWriter, _ *http.Request, n int) {
				io.WriteString(w, page(2, true, fmt.Sprintf("c%d", n+1)))
			},
			wantErr: ErrListTooLong, wantReqs: 2,
			wantMsg: "Convex list_projects failed: the list is longer than chefdeploy reads",
		},
		{
			name:    "hasMore without nextCursor",
			handle:  func(w http.ResponseWriter, _ *http.Request, _ int) { io.WriteString(w, page(1, true, "")) },
			wantErr: ErrInvalidResponse, wantReqs: 1,
			wantMsg: "Convex list_projects failed: the Convex API returned an invalid response",
		},
		{
			name:    "nextCursor that does not advance",
			handle:  func(w http.ResponseWriter, _ *http.Request, _ int) { io.WriteString(w, page(1, true, "same")) },
			wantErr: ErrInvalidResponse, wantReqs: 2,
		},
		{
			name:    "missing pagination",
			handle:  func(w http.ResponseWriter, _ *http.Request, _ int) { io.WriteString(w, `{"items":[]}`) },
			wantErr: ErrInvalidResponse, wantReqs: 1,
		},
		{
			name: "missing items",
			handle: func(w http.ResponseWriter, _ *http.Request, _ int) {
				io.WriteString(w, `{"pagination":{"hasMore":false}}`)
			},
			wantErr: ErrInvalidResponse, wantReqs: 1,
		},
		{
			name:    "a bare array (the provision host's shape)",
			handle:  func(w http.ResponseWriter, _ *http.Request, _ int) { io.WriteString(w, `[{"id":1}]`) },
			wantErr: ErrInvalidResponse, wantReqs: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupPlatform(t, tt.handle)
			if tt.maxItems > 0 {
				b.p.maxItems = tt.maxItems
			}
			got, err := b.p.ListProjects(context.Background(), teamToken, 42)
			if !errors.Is(err, tt.wantErr) || got != nil {
				t.Errorf("got %d projects, %v; want none and %v", len(got), err, tt.wantErr)
			}
			if n := len(b.srv.requests()); n != tt.wantReqs {
				t.Errorf("server saw %d requests, want %d", n, tt.wantReqs)
			}
			if tt.wantMsg != "" && UserMessage(err) != tt.wantMsg {
				t.Errorf("UserMessage = %q, want %q", UserMessage(err), tt.wantMsg)
			}
			assertNoSecrets(t, err)
		})
	}
}

// TestPlatformInvalidAnswers: a 200 whose body cannot be used is a clear,
// final error.
func TestPlatformInvalidAnswers(t *testing.T) {
	t.Parallel()
	calls := map[string]platformCall{}
	for _, c := range platformCalls(teamToken) {
		calls[c.name] = c
	}
	tests := []struct {
		call, answer, wantMsg string
	}{
		{"token_details", `{"teamId":`, "Convex token_details failed: the Convex API returned an invalid response"},
		{"token_details", `{"type":"projectToken","projectId":3,"name":"n","createTime":1}`, ""},
		{"token_details", `{"type":"teamToken","teamId":"42"}`, ""},
		{"token_details", `{"type":"teamToken","name":"n"}`, ""},
		{"token_details", `null`, ""},
		{"create_project", `<html>not json</html>`, "Failed to create project: the Convex API returned an invalid response"},
		{"create_project", `{"id":7,"deploymentName":"happy-otter-123"}`, ""},
		{"create_project", `{"id":7,"deploymentUrl":"https://x.convex.cloud"}`, ""},
		{"create_project", `{"id":7,"deploymentName":"d","deploymentUrl":"javascript:alert(1)"}`, ""},
		{"create_project", `{"id":7,"deploymentName":"d","deploymentUrl":"https://user:pw@d.convex.cloud"}`, ""},
		{"create_project", ``, ""},
		{"list_projects", `{"items":[{"id":1,"createTime":"yesterday"}],"pagination":{"hasMore":false}}`, ""},
		{"create_deploy_key", `{}`, "Failed to create project deploy key: the Convex API returned an invalid response"},
		{"create_deploy_key", `{"deployKey":`, ""},
		{"list_deploy_keys", `{"id":1}`, "Convex list_deploy_keys failed: the Convex API returned an invalid response"},
		{"list_deploy_keys", `[{"id":"one"}]`, ""},
		{"list_deploy_keys", `[{"id":1,"creationTime":"yesterday"}]`, ""},
		{"list_deploy_keys", `null`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.call+" "+tt.answer, func(t *testing.T) {
			t.Parallel()
			b := setupPlatform(t, script(ok(tt.answer)))
			err := calls[tt.call].call(context.Background(), b.p)
			if !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("err = %v, want an invalid response", err)
			}
			if n := len(b.srv.requests()); n != 1 {
				t.Errorf("server saw %d requests, want 1 (an answer is final)", n)
			}
			if tt.wantMsg != "" && UserMessage(err) != tt.wantMsg {
				t.Errorf("UserMessage = %q, want %q", UserMessage(err), tt.wantMsg)
			}
			assertNoSecrets(t, err)
		})
	}
}

// TestPlatformOversizedAnswer: no call reads more than MaxBodyBytes.
func TestPlatformOversizedAnswer(t *testing.T) {
	t.Parallel()
	const limit = 512
	for _, c := range platformCalls(teamToken) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// A valid answer padded past the limit with a field nobody reads.
			padding := strings.Repeat("x", 2*limit)
			body := `{"padding":"` + padding + `"}`
			if strings.HasPrefix(c.answer, "{") && len(c.answer) > 2 {
				body = `{"padding":"` + padding + `",` + c.answer[1:]
			} else if c.answer == `[]` {
				body = `[{"name":"` + padding + `"}]`
			}
			b := setupPlatform(t, script(ok(body)), func(o *Options) { o.MaxBodyBytes = limit })
			err := c.call(context.Background(), b.p)
			if !errors.Is(err, ErrInvalidResponse) || !strings.Contains(err.Error(), "exceeds 512 bytes") {
				t.Errorf("err = %v, want the body bound", err)
			}
			assertNoSecrets(t, err)
		})
	}
}

// TestPlatformErrorMessages checks CONTRACT §2.1's table, row by row, with
// the number of requests each refusal costs.
func TestPlatformErrorMessages(t *testing.T) {
	t.Parallel()
	const (
		revoked = "Convex no longer accepts your authorization for team acme. Authorize the team again."
		role    = "Your Convex role on team acme does not allow this."
		sso     = "You must log in with Single Sign-on to access this team."
	)
	calls := map[string]platformCall{}
	type row struct {
		name, call  string
		reply       reply
		want        string
		wantReqs    int
		wantRevoked bool
	}
	var tests []row
	for _, c := range platformCalls(teamToken) {
		calls[c.name] = c
		tests = append(tests,
			row{c.name + " 401", c.name, reply{status: 401, body: `{"code":"Unauthorized","message":"bad token"}`}, revoked, 1, true},
			row{c.name + " 401 without a body", c.name, reply{status: 401}, revoked, 1, true},
			row{c.name + " 403", c.name, reply{status: 403, body: `{"code":"Forbidden","message":"not an admin"}`}, role, 1, false},
			row{c.name + " SSORequired code", c.name, reply{status: 403, body: `{"code":"SSORequired","message":"Log in with SSO"}`}, sso, 1, false},
		)
	}
	tests = append(tests,
		row{"SSORequired in a 401's message", "token_details", reply{status: 401, body: `{"code":"Unauthorized","message":"SSORequired: this team uses SSO"}`}, sso, 1, false},
		row{"SSORequired in a body that is not JSON", "list_projects", reply{status: 400, body: `<h1>SSORequired</h1>`}, sso, 1, false},
		row{"SSORequired on a 500 is final", "create_project", reply{status: 500, body: `{"code":"SSORequired","message":"x"}`}, sso, 1, false},
		row{"quota", "create_project", reply{status: 400, body: `{"code":"ProjectQuotaReached","message":"Team acme has reached its limit of 40 projects."}`},
			"Failed to create project: ProjectQuotaReached: Team acme has reached its limit of 40 projects.", 1, false},
		row{"create_project other 400", "create_project", reply{status: 400, body: `{"code":"InvalidProjectName","message":"no"}`}, "Failed to create project: 400", 1, false},
		row{"create_project 404", "create_project", reply{status: 404, body: `{"code":"TeamNotFound","message":"no"}`}, "Failed to create project: 404", 1, false},
		row{"create_project 409", "create_project", reply{status: 409}, "Failed to create project: 409", 1, false},
		row{"create_project 500 until attempts run out", "create_project", reply{status: 500}, "Failed to create project: 500", 3, false},
		row{"create_deploy_key 400", "create_deploy_key", reply{status: 400, body: `{"code":"BadName","message":"no"}`}, "Failed to create project deploy key: 400", 1, false},
		row{"create_deploy_key 404", "create_deploy_key", reply{status: 404}, "Failed to create project deploy key: 404", 1, false},
		row{"create_deploy_key 503 until attempts run out", "create_deploy_key", reply{status: 503}, "Failed to create project deploy key: 503", 3, false},
		// The contract is silent on these; they name the call and status.
		row{"delete_deploy_key 404", "delete_deploy_key", reply{status: 404}, "Convex delete_deploy_key failed: 404", 1, false},
		row{"token_details 500 until attempts run out", "token_details", reply{status: 500}, "Convex token_details failed: 500", 3, false},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupPlatform(t, script(tt.reply), func(o *Options) { o.MaxAttempts = 3 })
			err := calls[tt.call].call(context.Background(), b.p)
			if got := UserMessage(err); got != tt.want {
				t.Errorf("UserMessage = %q, want %q (err %v)", got, tt.want, err)
			}
			if n := len(b.srv.requests()); n != tt.wantReqs {
				t.Errorf("server saw %d requests, want %d", n, tt.wantReqs)
			}
			if got := IsGrantRevoked(err); got != tt.wantRevoked {
				t.Errorf("IsGrantRevoked = %v, want %v", got, tt.wantRevoked)
			}
			if e, ok := errors.AsType[*Error](err); !ok || e.Op != tt.call || e.TeamSlug != "acme" {
				t.Errorf("err = %#v, want an *Error for %s naming team acme", err, tt.call)
			}
			assertNoSecrets(t, err)
		})
	}
}

// TestPlatformTeamSlug: the 401 and 403 messages name the team from the
// token's prefix, say "this team" without one, and keep a slug the caller set.
func TestPlatformTeamSlug(t *testing.T) {
	t.Parallel()
	b := setupPlatform(t, script(reply{status: 401}))
	_, err := b.p.TokenDetails(context.Background(), "plain-token-without-prefix")
	if got, want := UserMessage(err), "Convex no longer accepts your authorization for this team. Authorize the team again."; got != want {
		t.Errorf("UserMessage = %q, want %q", got, want)
	}
	if !IsGrantRevoked(err) {
		t.Error("IsGrantRevoked = false")
	}
	e, _ := errors.AsType[*Error](err)
	if e == nil {
		t.Fatalf("err = %#v", err)
	}
	e.TeamSlug = "globex" // as a caller that knows the grant's slug would
	wrapped := fmt.Errorf("connect: %w", err)
	if got, want := UserMessage(wrapped), "Convex no longer accepts your authorization for team globex. Authorize the team again."; got != want {
		t.Errorf("UserMessage = %q, want %q", got, want)
	}
	if !IsGrantRevoked(wrapped) {
		t.Error("IsGrantRevoked of a wrapped error = false")
	}

	b = setupPlatform(t, script(reply{status: 403}))
	_, err = b.p.ListProjects(context.Background(), "team:globex|secret-2", 42)
	if got, want := UserMessage(err), "Your Convex role on team globex does not allow this."; got != want {
		t.Errorf("UserMessage = %q, want %q", got, want)
	}
}

// TestIsGrantRevokedOnlyForPlatform: the provision host's 401 is an expired
// sign-in, not a revoked grant, and keeps its own message.
func TestIsGrantRevokedOnlyForPlatform(t *testing.T) {
	t.Parallel()
	b := setup(t, script(reply{status: 401}))
	_, err := b.client.Teams(context.Background(), userToken)
	if IsGrantRevoked(err) {
		t.Error("IsGrantRevoked(provision host 401) = true")
	}
	if got := UserMessage(err); got != msgSignInExpired {
		t.Errorf("UserMessage = %q, want the builder's %q", got, msgSignInExpired)
	}
	for _, err := range []error{nil, errors.New("401"), context.DeadlineExceeded, &Error{Op: "teams", Status: 401}} {
		if IsGrantRevoked(err) {
			t.Errorf("IsGrantRevoked(%v) = true", err)
		}
	}
}

// TestPlatformRetried: 5xx and 429 are retried within the deadline, with the
// same request each time, and a retry in the middle of paging resends the
// same cursor.
func TestPlatformRetried(t *testing.T) {
	t.Parallel()
	t.Run("create_project", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b := setupPlatform(t, script(reply{status: 503}, reply{status: 429, header: map[string]string{"Retry-After": "0"}}, reply{status: 502}, ok(createProjectAnswer)))
		got, err := b.p.CreateProject(ctx, teamToken, 42, "Tic Tac Toe")
		if err != nil || got.ID != 7 {
			t.Fatalf("got %+v, %v", got, err)
		}
		reqs := b.srv.requests()
		if len(reqs) != 4 {
			t.Fatalf("server saw %d requests, want 4", len(reqs))
		}
		for i, r := range reqs {
			if string(r.Body) != `{"projectName":"Tic Tac Toe","deploymentType":"dev"}` || r.Header.Get("Authorization") != "Bearer "+teamToken {
				t.Errorf("attempt %d sent %q with %q", i, r.Body, r.Header.Get("Authorization"))
			}
		}
	})
	t.Run("list_projects page 2", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b := setupPlatform(t, script(
			ok(`{"items":[{"id":2}],"pagination":{"hasMore":true,"nextCursor":"next/page"}}`),
			reply{status: 500},
			reply{status: 429},
			ok(`{"items":[{"id":1}],"pagination":{"hasMore":false}}`),
		))
		got, err := b.p.ListProjects(ctx, teamToken, 42)
		if err != nil || len(got) != 2 {
			t.Fatalf("got %+v, %v", got, err)
		}
		reqs := b.srv.requests()
		if len(reqs) != 4 {
			t.Fatalf("server saw %d requests, want 4", len(reqs))
		}
		for _, r := range reqs[1:] {
			if q, _ := url.ParseQuery(r.Query); q.Get("cursor") != "next/page" {
				t.Errorf("retry sent cursor %q", q.Get("cursor"))
			}
		}
	})
}

// TestPlatformNoFinalAnswer: retries cut short by the deadline, or a server
// that never answers, give "Failed to connect to project".
func TestPlatformNoFinalAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		handle   func(http.ResponseWriter, *http.Request, int)
		minTries int
	}{
		{"5xx until the deadline", script(reply{status: 503}), 2},
		{"429 until the deadline", script(reply{status: 429}), 2},
		{"no answer at all", blackHole, 1},
	}
	for _, tt := range tests {
		for _, c := range []string{"create_project", "create_deploy_key", "list_projects"} {
			t.Run(tt.name+" "+c, func(t *testing.T) {
				t.Parallel()
				var call platformCall
				for _, pc := range platformCalls(teamToken) {
					if pc.name == c {
						call = pc
					}
				}
				b := setupPlatform(t, tt.handle, func(o *Options) { o.BaseBackoff = 20 * time.Millisecond; o.MaxAttempts = 100 })
				const deadline = 300 * time.Millisecond
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				start := time.Now()
				err := call.call(ctx, b.p)
				if took := time.Since(start); took > deadline+300*time.Millisecond {
					t.Errorf("returned after %v, deadline was %v", took, deadline)
				}
				if got := UserMessage(err); got != "Failed to connect to project" {
					t.Errorf("UserMessage = %q (err %v)", got, err)
				}
				if n := len(b.srv.requests()); n < tt.minTries {
					t.Errorf("server saw %d requests, want at least %d", n, tt.minTries)
				}
				if IsGrantRevoked(err) {
					t.Error("IsGrantRevoked = true")
				}
				assertNoSecrets(t, err)
			})
		}
	}
}

// TestPlatformSecretsRedacted: a server that echoes the token, whole or its
// secret half, never gets it into an error or a user message.
func TestPlatformSecretsRedacted(t *testing.T) {
	t.Parallel()
	echo := `{"code":"ProjectQuotaReached","message":"token ` + teamToken + ` (team-secret-5e2c81) is over quota"}`
	b := setupPlatform(t, script(reply{status: 400, body: echo}))
	_, err := b.p.CreateProject(context.Background(), teamToken, 42, "P")
	want := "Failed to create project: ProjectQuotaReached: token [redacted] ([redacted]) is over quota"
	if got := UserMessage(err); got != want {
		t.Errorf("UserMessage = %q, want %q", got, want)
	}
	assertNoSecrets(t, err)

	for _, status := range []int{401, 403, 404, 500} {
		b := setupPlatform(t, script(reply{status: status, body: `{"code":"` + teamToken + `","message":"` + teamToken + `"}`}), func(o *Options) { o.MaxAttempts = 2 })
		for _, c := range platformCalls(teamToken) {
			err := c.call(context.Background(), b.p)
			if err == nil {
				t.Fatalf("%d %s: no error", status, c.name)
			}
			assertNoSecrets(t, err)
			if e, _ := errors.AsType[*Error](err); e == nil || strings.Contains(e.Code+e.Message, "team-secret") {
				t.Errorf("%d %s: err = %#v keeps the token", status, c.name, err)
			}
		}
	}
}

// TestPlatformBadArguments: what cannot be sent is refused before calling.
func TestPlatformBadArguments(t *testing.T) {
	t.Parallel()
	b := setupPlatform(t, script(ok(`{}`)))
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"empty token", func() error { _, err := b.p.TokenDetails(ctx, ""); return err }, "Convex token_details failed: invalid request"},
		{"token with a newline", func() error {
			_, err := b.p.TokenDetails(ctx, teamToken+"\r\nX-Evil: 1")
			return err
		}, "Convex token_details failed: invalid request"},
		{"team id 0", func() error { _, err := b.p.CreateProject(ctx, teamToken, 0, "P"); return err }, "Failed to create project: invalid request"},
		{"empty project name", func() error { _, err := b.p.CreateProject(ctx, teamToken, 42, ""); return err }, "Failed to create project: invalid request"},
		{"negative team id", func() error { _, err := b.p.ListProjects(ctx, teamToken, -1); return err }, "Convex list_projects failed: invalid request"},
		{"project id 0", func() error { return b.p.DeleteProject(ctx, teamToken, 0) }, "Convex delete_project failed: invalid request"},
		{"empty deployment", func() error {
			_, err := b.p.CreateDeployKey(ctx, teamToken, "", "k")
			return err
		}, "Failed to create project deploy key: invalid request"},
		{"empty key name", func() error {
			_, err := b.p.CreateDeployKey(ctx, teamToken, "d", "")
			return err
		}, "Failed to create project deploy key: invalid request"},
		{"empty key name to delete", func() error { return b.p.DeleteDeployKey(ctx, teamToken, "d", "") }, "Convex delete_deploy_key failed: invalid request"},
		{"empty deployment to list", func() error { _, err := b.p.ListDeployKeys(ctx, teamToken, ""); return err }, "Convex list_deploy_keys failed: invalid request"},
	}
	for _, tt := range tests {
		err := tt.call()
		if got := UserMessage(err); got != tt.want {
			t.Errorf("%s: UserMessage = %q, want %q (err %v)", tt.name, got, tt.want, err)
		}
		assertNoSecrets(t, err)
	}
	if n := len(b.srv.requests()); n != 0 {
		t.Errorf("server saw %d requests, want none", n)
	}
}

func TestTeamSlugFromToken(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"team:acme|secret":                       "acme",
		"team:acme-corp_2|a|b":                   "acme-corp_2",
		"team:|secret":                           "",
		"team:acme":                              "",
		"project:acme:app|secret":                "",
		"acme|secret":                            "",
		"":                                       "",
		"team:ac me|secret":                      "",
		"team:<b>x</b>|secret":                   "",
		"team:" + strings.Repeat("a", 65) + "|s": "",
	}
	for token, want := range tests {
		if got := TeamSlugFromToken(token); got != want {
			t.Errorf("TeamSlugFromToken(%q) = %q, want %q", token, got, want)
		}
	}
}

func TestDeployKeyName(t *testing.T) {
	t.Parallel()
	if got := DeployKeyName("0b6f3c1e-8f7a-4d2b-9c1d-2a3b4c5d6e7f", 3); got != "chefdeploy-0b6f3c1e-8f7a-4d2b-9c1d-2a3b4c5d6e7f-3" {
		t.Errorf("DeployKeyName = %q", got)
	}
}

func TestNewPlatformBaseURL(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"https://api.convex.dev", "https://api.convex.dev/", "https://api.convex.dev//"} {
		if got := NewPlatform(Options{BaseURL: base, DeploySecret: hostSecret}).c; got.baseURL != "https://api.convex.dev/v1" || got.deploySecret != "" {
			t.Errorf("NewPlatform(%q): base %q, deploy secret set: %v", base, got.baseURL, got.deploySecret != "")
		}
	}
}
