package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"chefdeploy/sandbox"
)

const (
	testClientID     = "chefdeploy-test"
	testClientSecret = "test-client-secret"
	testRedirectURI  = "http://app.example.test/auth/callback"
)

// fixture is a sandbox mounted at /sandbox of its own server, the way the
// product mounts it.
type fixture struct {
	sb   *sandbox.Sandbox
	srv  *httptest.Server
	base string // the sandbox's BaseURL
}

// setup serves a sandbox made with opts (BaseURL and, when nil, Clients and
// their RedirectURIs are filled in).
func setup(t *testing.T, opts sandbox.Options) *fixture {
	t.Helper()
	// The listener comes first because the sandbox must know its URL.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.BaseURL = "http://" + l.Addr().String() + "/sandbox"
	if opts.Clients == nil {
		opts.Clients = map[string]string{testClientID: testClientSecret}
	}
	if opts.RedirectURIs == nil {
		opts.RedirectURIs = map[string]string{}
		for id := range opts.Clients {
			opts.RedirectURIs[id] = testRedirectURI
		}
	}
	sb, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", sb.Handler()))
	srv := httptest.NewUnstartedServer(mux)
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(func() {
		sb.Close() // releases blocked handlers so srv.Close does not wait on them
		srv.Close()
	})
	return &fixture{sb: sb, srv: srv, base: opts.BaseURL}
}

// reply is an HTTP answer read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// decode parses the body as JSON, failing the test when it is not JSON.
func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json (body %s)", ct, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// code is the "code" of an API error answer.
func (r reply) code(t *testing.T) string {
	t.Helper()
	var e struct {
		Code string `json:"code"`
	}
	r.decode(t, &e)
	return e.Code
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// send makes a request to a path below the sandbox's BaseURL.
func (f *fixture) send(t *testing.T, method, path string, header http.Header, body io.Reader) reply {
	t.Helper()
	return f.sendCtx(t, t.Context(), method, path, header, body)
}

func (f *fixture) sendCtx(t *testing.T, ctx context.Context, method, path string, header http.Header, body io.Reader) reply {
	t.Helper()
	rp, err := f.trySend(ctx, method, path, header, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return rp
}

func (f *fixture) trySend(ctx context.Context, method, path string, header http.Header, body io.Reader) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, f.base+path, body)
	if err != nil {
		return reply{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// api calls the provision API as the holder of token, with body as JSON.
func (f *fixture) api(t *testing.T, method, path, token string, body any) reply {
	t.Helper()
	return f.sendCtx(t, t.Context(), method, path, apiHeader(t, "Bearer "+token, body), jsonBody(t, body))
}

func apiHeader(t *testing.T, authorization string, body any) http.Header {
	t.Helper()
	h := http.Header{}
	if authorization != "" {
		h.Set("Authorization", authorization)
	}
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	return h
}

func jsonBody(t *testing.T, body any) io.Reader {
	t.Helper()
	switch b := body.(type) {
	case nil:
		return nil
	case string: // raw, possibly broken, JSON
		return strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.NewReader(raw)
	}
}

// login returns an access token of a demo user.
func (f *fixture) login(t *testing.T, user string) string {
	t.Helper()
	token, err := f.sb.IssueToken(user)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// created is create_project's answer.
type created struct {
	ProjectSlug       string `json:"projectSlug"`
	ProjectID         int64  `json:"projectId"`
	TeamSlug          string `json:"teamSlug"`
	DeploymentName    string `json:"deploymentName"`
	ProdURL           string `json:"prodUrl"`
	AdminKey          string `json:"adminKey"`
	ProjectsRemaining int    `json:"projectsRemaining"`
}

func createBody(team, name string) map[string]string {
	return map[string]string{"team": team, "projectName": name, "deploymentType": "dev"}
}

// createProject creates a project and fails the test unless it worked.
func (f *fixture) createProject(t *testing.T, token, team, name string) created {
	t.Helper()
	rp := f.api(t, "POST", "/api/create_project", token, createBody(team, name))
	if rp.status != http.StatusOK {
		t.Fatalf("create_project in %s: %d %s", team, rp.status, rp.body)
	}
	var c created
	rp.decode(t, &c)
	return c
}

func authorizeBody(token string, projectID int64, clientSecret string) map[string]any {
	return map[string]any{
		"authn_token": token,
		"projectId":   projectID,
		"oauthApp":    map[string]string{"clientId": testClientID, "clientSecret": clientSecret},
	}
}

// deployKey authorizes the project and builds the deploy key the product
// would store.
func (f *fixture) deployKey(t *testing.T, token string, c created) string {
	t.Helper()
	rp := f.api(t, "POST", "/api/dashboard/authorize", token, authorizeBody(token, c.ProjectID, testClientSecret))
	if rp.status != http.StatusOK {
		t.Fatalf("authorize: %d %s", rp.status, rp.body)
	}
	var a struct {
		AccessToken string `json:"accessToken"`
	}
	rp.decode(t, &a)
	if a.AccessToken == "" {
		t.Fatalf("authorize gave no accessToken: %s", rp.body)
	}
	return "project:" + c.TeamSlug + ":" + c.ProjectSlug + "|" + a.AccessToken
}

// deployment posts to an endpoint of a deployment's /api/v1 with
// `Authorization: Convex`.
func (f *fixture) deployment(t *testing.T, name, endpoint, key string, body any) reply {
	t.Helper()
	return f.sendCtx(t, t.Context(), "POST", "/d/"+name+"/api/v1/"+endpoint, apiHeader(t, convexAuth(key), body), jsonBody(t, body))
}

// listEnv lists a deployment's variables with `Authorization: Convex`.
func (f *fixture) listEnv(t *testing.T, name, key string) reply {
	t.Helper()
	return f.sendCtx(t, t.Context(), "GET", "/d/"+name+"/api/v1/list_environment_variables", apiHeader(t, convexAuth(key), nil), nil)
}

func convexAuth(key string) string {
	if key == "" {
		return ""
	}
	return "Convex " + key
}
