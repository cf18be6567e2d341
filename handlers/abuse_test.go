package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"chefdeploy/handlers/webtest"
)

// TestLoginFloodWritesNothing: starting a login keeps its state in the
// browser's encrypted cookie, so a flood of /auth/login writes no row; the
// callback still works, once.
func TestLoginFloodWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range 200 {
		res := webtest.Do(t, webtest.Browser(t), "GET", b.app.URL+"/auth/login", nil)
		if res.Status != http.StatusFound {
			t.Fatalf("login %d = %d", i, res.Status)
		}
	}
	var rows int
	if err := b.db.Get(&rows, `SELECT count(*) FROM login_attempts`); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("200 logins started wrote %d login_attempts rows, want 0", rows)
	}
	// The flow still completes.
	c := webtest.Browser(t)
	b.login(t, c, "ada")
	if home := webtest.Do(t, c, "GET", b.app.URL+"/", nil); !strings.Contains(home.Body, `data-testid="logout"`) {
		t.Fatal("not signed in after the login")
	}
}

// tooMany checks a 429 with Retry-After and a page that says so.
func tooMany(t *testing.T, what string, res webtest.Response) {
	t.Helper()
	if res.Status != http.StatusTooManyRequests {
		t.Fatalf("%s = %d, want 429:\n%.400s", what, res.Status, res.Body)
	}
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 || s > 120 {
		t.Errorf("%s: Retry-After = %q", what, res.Header.Get("Retry-After"))
	}
	if !strings.Contains(res.Body, "Too many") {
		t.Errorf("%s: the page does not say what happened:\n%.400s", what, res.Body)
	}
}

// TestLoginRateLimitPerIP: past LOGIN_RATE_LIMIT logins a minute from one
// address, the next answers 429, on every replica (the count is in the
// database).
func TestLoginRateLimitPerIP(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *setupOptions) { o.env = map[string]string{"LOGIN_RATE_LIMIT": "5/1m"} })
	for i := range 5 {
		if res := webtest.Do(t, webtest.Browser(t), "GET", b.app.URL+"/auth/login", nil); res.Status != http.StatusFound {
			t.Fatalf("login %d = %d", i, res.Status)
		}
	}
	tooMany(t, "6th login", webtest.Do(t, webtest.Browser(t), "GET", b.app.URL+"/auth/login", nil))
	other := httptest.NewServer(b.newHandler(b.cfg))
	t.Cleanup(other.Close)
	tooMany(t, "login on another replica", webtest.Do(t, webtest.Browser(t), "GET", other.URL+"/auth/login", nil))
}

// TestActionRateLimitPerUser: past ACTION_RATE_LIMIT creates (and connects)
// a minute, one user gets 429 and nothing is created; another user is not
// held back.
func TestActionRateLimitPerUser(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada", func(o *setupOptions) { o.env = map[string]string{"ACTION_RATE_LIMIT": "3/1m"} })
	var id string
	for i := range 3 {
		id = b.createApp(t, c, "App "+strconv.Itoa(i))
	}
	tooMany(t, "4th create", webtest.Do(t, c, "POST", b.app.URL+"/apps", url.Values{"name": {"One too many"}}))
	var apps int
	if err := b.db.Get(&apps, `SELECT count(*) FROM apps`); err != nil {
		t.Fatal(err)
	}
	if apps != 3 {
		t.Errorf("%d apps after a refused create, want 3", apps)
	}
	for range 3 {
		b.connect(t, c, id, "no-such-team")
	}
	tooMany(t, "4th connect", b.connect(t, c, id, "acme"))

	grace := webtest.Browser(t)
	b.login(t, grace, "grace")
	b.createApp(t, grace, "Grace's app")
}

// TestConnectToUnknownTeamsDoesNotRefetch: the team list is cached per user,
// a miss included, so connects to a team the user lacks do not each fetch
// the list from Convex again.
func TestConnectToUnknownTeamsDoesNotRefetch(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	id := b.createApp(t, c, "Teams")
	if res := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/teams", nil, "HX-Request", "true"); res.Status != http.StatusOK {
		t.Fatalf("teams = %d", res.Status)
	}
	start := b.teamListings.Load()
	for i := range 20 {
		res := b.connect(t, c, id, "no-such-team-"+strconv.Itoa(i%3))
		if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Body, "Choose one of your Convex teams.") {
			t.Fatalf("connect to an unknown team = %d:\n%.400s", res.Status, res.Body)
		}
	}
	if n := b.teamListings.Load() - start; n > 1 {
		t.Errorf("20 connects to unknown teams fetched the team list %d times, want at most 1", n)
	}
	if res := b.connect(t, c, id, "acme"); res.Status != http.StatusOK || stateOf(t, res.Body) != "connecting" {
		t.Fatalf("connect to a known team = %d", res.Status)
	}
}
