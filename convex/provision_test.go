package convex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func zipBody(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func strPtr(s string) *string { return &s }

// TestRequestShape checks what each call puts on the wire.
func TestRequestShape(t *testing.T) {
	t.Parallel()
	zip := []byte("PK\x03\x04 fake zip")
	tests := []struct {
		name       string
		call       func(ctx context.Context, c *Client, deploymentURL string) error
		answer     string
		secret     string // Options.DeploySecret
		method     string
		path       string // escaped, as sent
		query      string
		auth       string
		wantJSON   string // "" = no body expected
		wantBody   []byte // raw body, when not JSON
		wantCType  string
		wantSecret string // expected deploy-secret header ("" = absent)
	}{
		{
			name:   "profile",
			call:   func(ctx context.Context, c *Client, _ string) error { _, err := c.Profile(ctx, userToken); return err },
			answer: `{"id":"u1"}`, method: "GET", path: "/api/dashboard/profile", auth: "Bearer " + userToken,
		},
		{
			name:   "teams",
			call:   func(ctx context.Context, c *Client, _ string) error { _, err := c.Teams(ctx, userToken); return err },
			answer: `[]`, method: "GET", path: "/api/dashboard/teams", auth: "Bearer " + userToken,
		},
		{
			name: "create_project",
			call: func(ctx context.Context, c *Client, _ string) error {
				_, err := c.CreateProject(ctx, userToken, "acme", "Tic Tac Toe")
				return err
			},
			answer: `{"projectSlug":"tic-tac-toe","projectId":7,"teamSlug":"acme","deploymentName":"happy-otter-123","prodUrl":"https://happy-otter-123.convex.cloud","adminKey":"ak","projectsRemaining":3}`,
			method: "POST", path: "/api/create_project", auth: "Bearer " + userToken,
			wantJSON: `{"team":"acme","projectName":"Tic Tac Toe","deploymentType":"dev"}`, wantCType: "application/json",
		},
		{
			name: "authorize",
			call: func(ctx context.Context, c *Client, _ string) error {
				_, err := c.Authorize(ctx, userToken, 7, OAuthApp{ClientID: "cid", ClientSecret: clientSecret})
				return err
			},
			answer: `{"accessToken":"at"}`, method: "POST", path: "/api/dashboard/authorize", auth: "Bearer " + userToken,
			wantJSON:  `{"authn_token":"` + userToken + `","projectId":7,"oauthApp":{"clientId":"cid","clientSecret":"` + clientSecret + `"}}`,
			wantCType: "application/json",
		},
		{
			name: "list_projects escapes the team slug",
			call: func(ctx context.Context, c *Client, _ string) error {
				_, err := c.ListProjects(ctx, userToken, "ac/me x")
				return err
			},
			answer: `[]`, method: "GET", path: "/api/teams/ac%2Fme%20x/projects", auth: "Bearer " + userToken,
		},
		{
			name:   "delete_project",
			call:   func(ctx context.Context, c *Client, _ string) error { return c.DeleteProject(ctx, userToken, 42) },
			answer: `{}`, method: "POST", path: "/api/dashboard/delete_project/42", auth: "Bearer " + userToken,
		},
		{
			name: "get_token_info",
			call: func(ctx context.Context, c *Client, _ string) error {
				_, err := c.TokenInfo(ctx, userToken, "acme")
				return err
			},
			answer: `{}`, method: "GET", path: "/api/dashboard/teams/acme/usage/get_token_info", auth: "Bearer " + userToken,
		},
		{
			name: "record_tokens",
			call: func(ctx context.Context, c *Client, _ string) error {
				_, err := c.RecordTokens(ctx, userToken, "acme", 1234)
				return err
			},
			answer: `{}`, method: "POST", path: "/api/dashboard/teams/acme/usage/record_tokens", auth: "Bearer " + userToken,
			wantJSON: `{"centitokens":1234}`, wantCType: "application/json",
		},
		{
			name: "hosting_deploy with secret",
			call: func(ctx context.Context, c *Client, _ string) error {
				_, err := c.HostingDeploy(ctx, deployKey, "happy-otter-123", int64(len(zip)), zipBody(zip))
				return err
			},
			secret: hostSecret,
			answer: `{}`, method: "POST", path: "/api/hosting/deploy", query: "deploymentName=happy-otter-123", auth: "Bearer " + deployKey,
			wantBody: zip, wantCType: "application/zip", wantSecret: hostSecret,
		},
		{
			name: "hosting_deploy without secret",
			call: func(ctx context.Context, c *Client, _ string) error {
				_, err := c.HostingDeploy(ctx, deployKey, "happy-otter-123", int64(len(zip)), zipBody(zip))
				return err
			},
			answer: `{}`, method: "POST", path: "/api/hosting/deploy", query: "deploymentName=happy-otter-123", auth: "Bearer " + deployKey,
			wantBody: zip, wantCType: "application/zip",
		},
		{
			name: "update_environment_variables",
			call: func(ctx context.Context, c *Client, d string) error {
				return c.UpdateEnvironmentVariables(ctx, d, deployKey, []EnvChange{{Name: "A", Value: strPtr("v")}, {Name: "E", Value: strPtr("")}, {Name: "GONE"}})
			},
			answer: ``, method: "POST", path: "/api/v1/update_environment_variables", auth: "Convex " + deployKey,
			wantJSON:  `{"changes":[{"name":"A","value":"v"},{"name":"E","value":""},{"name":"GONE"}]}`,
			wantCType: "application/json",
		},
		{
			name: "list_environment_variables",
			call: func(ctx context.Context, c *Client, d string) error {
				_, err := c.EnvironmentVariables(ctx, d, deployKey)
				return err
			},
			answer: `{"environmentVariables":{}}`, method: "GET", path: "/api/v1/list_environment_variables", auth: "Convex " + deployKey,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, script(ok(tt.answer)), func(o *Options) { o.DeploySecret = tt.secret })
			if err := tt.call(context.Background(), b.client, b.srv.URL+"/"); err != nil {
				t.Fatalf("call: %v", err)
			}
			reqs := b.srv.requests()
			if len(reqs) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tt.method || r.Path != tt.path || r.Query != tt.query {
				t.Errorf("sent %s %s?%s, want %s %s?%s", r.Method, r.Path, r.Query, tt.method, tt.path, tt.query)
			}
			if got := r.Header.Get("Authorization"); got != tt.auth {
				t.Errorf("Authorization = %q, want %q", got, tt.auth)
			}
			if got := r.Header.Get("Content-Type"); got != tt.wantCType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantCType)
			}
			got, present := r.Header[http.CanonicalHeaderKey("convex-chef-deploy-secret")]
			if tt.wantSecret == "" && present {
				t.Errorf("deploy secret header sent: %q", got)
			}
			if tt.wantSecret != "" && r.Header.Get("convex-chef-deploy-secret") != tt.wantSecret {
				t.Errorf("deploy secret header = %q, want %q", got, tt.wantSecret)
			}
			switch {
			case tt.wantJSON != "":
				assertJSONEqual(t, r.Body, tt.wantJSON)
			case tt.wantBody != nil:
				if !bytes.Equal(r.Body, tt.wantBody) {
					t.Errorf("body = %q, want %q", r.Body, tt.wantBody)
				}
			case len(r.Body) != 0:
				t.Errorf("unexpected body %q", r.Body)
			}
		})
	}
}

func assertJSONEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body = %s, want %s", got, want)
	}
}

func TestProfileDecoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		want       Profile
	}{
		{"string id", `{"id":"user_abc","name":"Ada","email":"ada@example.com"}`, Profile{ID: "user_abc", Name: "Ada", Email: "ada@example.com"}},
		{"number id", `{"id":12345,"name":"Ada","email":"ada@example.com"}`, Profile{ID: "12345", Name: "Ada", Email: "ada@example.com"}},
		{"big number id stays exact", `{"id":12345678901234567890,"name":"Ada"}`, Profile{ID: "12345678901234567890", Name: "Ada"}},
		{"unknown fields ignored", `{"id":1,"name":"Ada","email":"a@b","avatar":{"x":[1,2]},"extra":null}`, Profile{ID: "1", Name: "Ada", Email: "a@b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, script(ok(tt.body)))
			got, err := b.client.Profile(context.Background(), userToken)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecoding(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("teams", func(t *testing.T) {
		t.Parallel()
		b := setup(t, script(ok(`[{"id":1,"name":"Acme","slug":"acme","referralCode":"ACME12","creator":5},{"id":2,"name":"Beta","slug":"beta"}]`)))
		got, err := b.client.Teams(ctx, userToken)
		want := []Team{{ID: 1, Name: "Acme", Slug: "acme", ReferralCode: "ACME12"}, {ID: 2, Name: "Beta", Slug: "beta"}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("create_project", func(t *testing.T) {
		t.Parallel()
		b := setup(t, script(ok(`{"projectSlug":"tic-tac-toe","projectId":7,"teamSlug":"acme","deploymentName":"happy-otter-123","prodUrl":"https://happy-otter-123.convex.cloud","adminKey":"ak|1","projectsRemaining":2,"new":true}`)))
		got, err := b.client.CreateProject(ctx, userToken, "acme", "Tic Tac Toe")
		want := CreatedProject{ProjectSlug: "tic-tac-toe", ProjectID: 7, TeamSlug: "acme", DeploymentName: "happy-otter-123", ProdURL: "https://happy-otter-123.convex.cloud", AdminKey: "ak|1", ProjectsRemaining: 2}
		if err != nil || got != want {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("authorize and deploy key", func(t *testing.T) {
		t.Parallel()
		b := setup(t, script(ok(`{"accessToken":"tok123","expires":0}`)))
		got, err := b.client.Authorize(ctx, userToken, 7, OAuthApp{ClientID: "cid", ClientSecret: clientSecret})
		if err != nil || got != "tok123" {
			t.Fatalf("got %q, %v", got, err)
		}
		if k := DeployKey("acme", "tic-tac-toe", got); k != "project:acme:tic-tac-toe|tok123" {
			t.Errorf("DeployKey = %q", k)
		}
	})
	t.Run("list_projects", func(t *testing.T) {
		t.Parallel()
		b := setup(t, script(ok(`[{"id":7,"name":"Tic Tac Toe","slug":"tic-tac-toe","teamId":1,"createTime":1700000000123,"isDemo":false},
			{"id":8,"slug":"b","teamId":1,"createTime":1.7e12},{"id":9,"slug":"c","teamId":1}]`)))
		got, err := b.client.ListProjects(ctx, userToken, "acme")
		want := []Project{
			{ID: 7, Name: "Tic Tac Toe", Slug: "tic-tac-toe", TeamID: 1, CreateTime: time.UnixMilli(1700000000123).UTC()},
			{ID: 8, Slug: "b", TeamID: 1, CreateTime: time.UnixMilli(1700000000000).UTC()},
			{ID: 9, Slug: "c", TeamID: 1},
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("get_token_info", func(t *testing.T) {
		t.Parallel()
		b := setup(t, script(ok(`{"centitokensUsed":150,"centitokensQuota":1000,"isTeamDisabled":true,"isPaidPlan":false,"plan":"free"}`)))
		got, err := b.client.TokenInfo(ctx, userToken, "acme")
		want := TokenInfo{CentitokensUsed: 150, CentitokensQuota: 1000, IsTeamDisabled: true}
		if err != nil || got != want {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("record_tokens", func(t *testing.T) {
		t.Parallel()
		b := setup(t, script(ok(`{"centitokensUsed":1384,"centitokensQuota":5000}`)))
		got, err := b.client.RecordTokens(ctx, userToken, "acme", 1234)
		want := TokenUsage{CentitokensUsed: 1384, CentitokensQuota: 5000}
		if err != nil || got != want {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("hosting_deploy", func(t *testing.T) {
		t.Parallel()
		b := setup(t, script(ok(`{"url":"https://happy-otter-123.convex.app","files":3}`)))
		got, err := b.client.HostingDeploy(ctx, deployKey, "happy-otter-123", 3, zipBody([]byte("zip")))
		if err != nil || string(got) != `{"url":"https://happy-otter-123.convex.app","files":3}` {
			t.Errorf("got %s, %v", got, err)
		}
	})
}

func TestEnvironmentVariables(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		want       map[string]string
	}{
		{"some", `{"environmentVariables":{"X":"v","E":""},"extra":1}`, map[string]string{"X": "v", "E": ""}},
		{"none", `{"environmentVariables":{}}`, map[string]string{}},
		{"null value", `{"environmentVariables":{"X":null}}`, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, script(ok(tt.body)))
			got, err := b.client.EnvironmentVariables(context.Background(), b.srv.URL, deployKey)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	for _, body := range []string{`{}`, `{"environmentVariables":[]}`, `{"environmentVariables":{"X":1}}`} {
		b := setup(t, script(ok(body)))
		if _, err := b.client.EnvironmentVariables(context.Background(), b.srv.URL, deployKey); !errors.Is(err, ErrInvalidResponse) {
			t.Errorf("%s: err = %v, want an invalid response", body, err)
		}
	}
}

// Names and values the deployment would refuse are refused before calling,
// with the rule as the message (CONTRACT §2.3).
func TestEnvironmentVariableRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change EnvChange
		rule   string
	}{
		{"digit first", EnvChange{Name: "1BAD", Value: strPtr("v")}, "starts with a letter or underscore"},
		{"dash", EnvChange{Name: "BAD-NAME"}, "only letters, digits and underscores"},
		{"empty", EnvChange{Name: ""}, "starts with a letter or underscore"},
		{"too long", EnvChange{Name: strings.Repeat("A", 257)}, "at most 256 bytes"},
		{"value too large", EnvChange{Name: "BIG", Value: strPtr(strings.Repeat("x", 8193))}, "at most 8192 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, script(ok(``)))
			err := b.client.UpdateEnvironmentVariables(context.Background(), b.srv.URL, deployKey, []EnvChange{{Name: "GOOD", Value: strPtr("v")}, tt.change})
			if err == nil || !strings.Contains(UserMessage(err), tt.rule) {
				t.Fatalf("err = %v, message %q; want the rule %q", err, UserMessage(err), tt.rule)
			}
			if n := len(b.srv.requests()); n != 0 {
				t.Errorf("sent %d requests for a change the deployment would refuse", n)
			}
		})
	}
	// The limits themselves are accepted.
	b := setup(t, script(ok(``)))
	if err := b.client.UpdateEnvironmentVariables(context.Background(), b.srv.URL, deployKey, []EnvChange{
		{Name: "_" + strings.Repeat("a", 255), Value: strPtr(strings.Repeat("x", 8192))},
	}); err != nil {
		t.Fatal(err)
	}
}

// One host gets at most defaultMaxConnsPerHost connections, however many
// calls are made at once: the rest wait for one to be free.
func TestConnectionsPerHostBounded(t *testing.T) {
	t.Parallel()
	var inFlight, peak atomic.Int32
	var conns, peakConns atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		io.WriteString(w, `{"environmentVariables":{}}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			n := conns.Add(1)
			for p := peakConns.Load(); n > p && !peakConns.CompareAndSwap(p, n); p = peakConns.Load() {
			}
		case http.StateClosed, http.StateHijacked:
			conns.Add(-1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := New(Options{BaseURL: srv.URL})

	const calls = 3 * defaultMaxConnsPerHost
	errs := make(chan error, calls)
	for range calls {
		go func() {
			_, err := c.EnvironmentVariables(context.Background(), srv.URL, deployKey)
			errs <- err
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for inFlight.Load() < defaultMaxConnsPerHost && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// Give any call beyond the bound the chance to arrive before releasing.
	settle := time.Now().Add(100 * time.Millisecond)
	for time.Now().Before(settle) && inFlight.Load() <= defaultMaxConnsPerHost {
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range calls {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if p := peak.Load(); p != defaultMaxConnsPerHost {
		t.Errorf("%d calls at once were served %d at a time, want %d", calls, p, defaultMaxConnsPerHost)
	}
	if p := peakConns.Load(); p > defaultMaxConnsPerHost {
		t.Errorf("%d connections were open at once, want at most %d", p, defaultMaxConnsPerHost)
	}
}

// TestDeploymentURLRefused keeps the deploy key away from a URL an untrusted
// create_project answer could have made up.
func TestDeploymentURLRefused(t *testing.T) {
	t.Parallel()
	c := New(Options{BaseURL: "http://127.0.0.1:1"})
	for _, u := range []string{"", "ftp://x.convex.cloud", "https://user:pw@x.convex.cloud", "//x.convex.cloud", "https://x.convex.cloud?a=b", "not a url"} {
		err := c.UpdateEnvironmentVariables(context.Background(), u, deployKey, nil)
		if err == nil {
			t.Errorf("%q accepted", u)
			continue
		}
		if e, _ := err.(*Error); e == nil || e.Retryable() {
			t.Errorf("%q: err = %#v, want a final *Error", u, err)
		}
		assertNoSecrets(t, err)
	}
}
