package convex

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Token strings used by the tests; none may ever appear in an error string.
const (
	userToken    = "team:acme|user-secret-4f1b9a"
	deployKey    = "project:acme:tic-tac-toe|deploy-secret-77c2e0"
	clientSecret = "oauth-client-secret-9d3e"
	hostSecret   = "hosting-secret-31aa5c"
	teamToken    = "team:acme|team-secret-5e2c81"
)

var allSecrets = []string{userToken, "user-secret-4f1b9a", deployKey, "deploy-secret-77c2e0", clientSecret, hostSecret, teamToken, "team-secret-5e2c81"}

// seen is one request as the test server received it.
type seen struct {
	Method, Path, Query string // Path is the escaped path, as sent
	Header              http.Header
	Body                []byte
	At                  time.Time
}

// reply is one scripted answer.
type reply struct {
	status int
	body   string
	header map[string]string
}

// testServer plays scripted replies and records what it was sent.
type testServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func (s *testServer) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// bundle is what a test needs: a client pointed at a server.
type bundle struct {
	client *Client
	srv    *testServer
}

// setup starts a server answering request n (0-based) with handle and a
// client with fast backoff pointed at it. opts may adjust the client options.
func setup(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int), opts ...func(*Options)) bundle {
	t.Helper()
	ts := startServer(t, handle)
	o := Options{BaseURL: ts.URL + "/", BaseBackoff: time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	return bundle{client: New(o), srv: ts}
}

// startServer starts a server that records each request and answers request
// n (0-based) with handle.
func startServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *testServer {
	t.Helper()
	ts := &testServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the request body: %v", err) // not Fatal: this is the server's goroutine
		}
		ts.mu.Lock()
		n := len(ts.reqs)
		ts.reqs = append(ts.reqs, seen{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, At: time.Now()})
		ts.mu.Unlock()
		handle(w, r, n)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// script answers the nth request with replies[n], repeating the last one.
func script(replies ...reply) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, n int) {
		r := replies[min(n, len(replies)-1)]
		for k, v := range r.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(r.status)
		io.WriteString(w, r.body)
	}
}

func ok(body string) reply { return reply{status: 200, body: body} }

// assertNoSecrets fails when err's text carries any test secret.
func assertNoSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range allSecrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains a secret", err)
		}
		if strings.Contains(UserMessage(err), s) {
			t.Errorf("user message %q contains a secret", UserMessage(err))
		}
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	c := New(Options{BaseURL: "https://api.convex.dev/"})
	if c.baseURL != "https://api.convex.dev" || c.maxAttempts != 6 || c.baseBackoff != 100*time.Millisecond || c.maxBody != 1<<20 {
		t.Errorf("defaults: %+v", c)
	}
	if c.hc.Timeout != 0 {
		t.Errorf("default client has an overall timeout %v; contexts bound calls", c.hc.Timeout)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var followed atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Store(true) }))
	t.Cleanup(other.Close)
	b := setup(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	}, func(o *Options) { o.DeploySecret = hostSecret })

	_, err := b.client.HostingDeploy(context.Background(), deployKey, "happy-otter-123", 3, zipBody([]byte("zip")))
	if err == nil || followed.Load() {
		t.Fatalf("err = %v, followed = %v; want an error and no redirect", err, followed.Load())
	}
	assertNoSecrets(t, err)
}
