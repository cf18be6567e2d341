package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"chefdeploy/sandbox"
)

func TestFailureTeamsOnCreateProject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		team     string
		statuses []int  // answers to consecutive calls
		body     string // exact body of the first answer, when fixed
		contains string // part of the first answer's body
	}{
		{team: sandbox.TeamQuotaReached, statuses: []int{400, 400},
			body: `{"code":"ProjectQuotaReached","message":"Team has reached the maximum number of projects."}`},
		{team: sandbox.TeamSSORequired, statuses: []int{403, 403}, contains: "SSORequired"},
		{team: sandbox.TeamExpiredSession, statuses: []int{401, 401}, contains: "Unauthenticated"},
		{team: sandbox.TeamFlaky, statuses: []int{500, 500, 200, 500, 500, 200}},
		{team: sandbox.TeamRateLimited, statuses: []int{429, 200, 429, 200}},
		{team: sandbox.TeamAuthorizeFails, statuses: []int{200, 200}},
		{team: sandbox.TeamAcme, statuses: []int{200, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.team, func(t *testing.T) {
			t.Parallel()
			f := setup(t, sandbox.Options{})
			ada := f.login(t, sandbox.UserAda)
			successes := 0
			for i, want := range tt.statuses {
				rp := f.api(t, "POST", "/api/create_project", ada, createBody(tt.team, "app"))
				if rp.status != want {
					t.Fatalf("call %d: %d %s, want %d", i+1, rp.status, rp.body, want)
				}
				var v map[string]any
				rp.decode(t, &v) // every answer is JSON
				if want == http.StatusTooManyRequests && rp.header.Get("Retry-After") != "1" {
					t.Errorf("call %d: Retry-After %q, want 1", i+1, rp.header.Get("Retry-After"))
				}
				if want == http.StatusOK {
					successes++
				}
				if i > 0 {
					continue
				}
				if tt.body != "" && string(rp.body) != tt.body {
					t.Errorf("body %s, want %s", rp.body, tt.body)
				}
				if !strings.Contains(string(rp.body), tt.contains) {
					t.Errorf("body %s does not contain %q", rp.body, tt.contains)
				}
			}
			if got := f.sb.Calls("create_project", tt.team); got != len(tt.statuses) {
				t.Errorf("Calls = %d, want %d", got, len(tt.statuses))
			}
			// Only answered successes leave a project behind.
			if got := len(f.sb.Projects(tt.team)); got != successes {
				t.Errorf("%d projects, want %d", got, successes)
			}
		})
	}
}

func TestMalformedTeamCreatesButAnswersBrokenJSON(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	ada := f.login(t, sandbox.UserAda)
	rp := f.api(t, "POST", "/api/create_project", ada, createBody(sandbox.TeamMalformed, "app"))
	if rp.status != http.StatusOK || rp.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q", rp.status, rp.header.Get("Content-Type"))
	}
	if json.Valid(rp.body) {
		t.Errorf("body is valid JSON: %s", rp.body)
	}
	if strings.Contains(string(rp.body), "adminKey") {
		t.Errorf("the truncated answer leaks the admin key: %s", rp.body)
	}
	// The project exists, so listing finds what the broken answer hid.
	var listed []projectJSON
	f.api(t, "GET", "/api/teams/malformed/projects", ada, nil).decode(t, &listed)
	if len(listed) != 1 || listed[0].Name != "app" {
		t.Errorf("listed %+v", listed)
	}
}

func TestAuthorizeFailsTeam(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	ada := f.login(t, sandbox.UserAda)
	c := f.createProject(t, ada, sandbox.TeamAuthorizeFails, "app")
	rp := f.api(t, "POST", "/api/dashboard/authorize", ada, authorizeBody(ada, c.ProjectID, testClientSecret))
	if rp.status != http.StatusForbidden {
		t.Errorf("authorize: %d %s, want 403", rp.status, rp.body)
	}
	if got := f.sb.Calls("authorize", sandbox.TeamAuthorizeFails); got != 1 {
		t.Errorf("Calls(authorize) = %d", got)
	}
}

func TestSlowTeam(t *testing.T) {
	t.Parallel()
	const delay = 150 * time.Millisecond
	f := setup(t, sandbox.Options{SlowDelay: delay})
	ada := f.login(t, sandbox.UserAda)

	start := time.Now()
	c := f.createProject(t, ada, sandbox.TeamSlow, "patient")
	if took := time.Since(start); took < delay {
		t.Errorf("answered after %v, want at least %v", took, delay)
	}
	if c.ProjectSlug != "patient" {
		t.Errorf("created %+v", c)
	}

	// A client that stops waiting gets nothing, but the project is created
	// all the same once the delay is over: the caller must find it by listing.
	ctx, cancel := context.WithTimeout(t.Context(), delay/3)
	defer cancel()
	_, err := f.trySend(ctx, "POST", "/api/create_project", apiHeader(t, "Bearer "+ada, "{}"), jsonBody(t, createBody(sandbox.TeamSlow, "impatient")))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the client's deadline", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.sb.Projects(sandbox.TeamSlow)) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the abandoned create never finished: %+v", f.sb.Projects(sandbox.TeamSlow))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBlackHoleEndsWithClientDeadline(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	ada := f.login(t, sandbox.UserAda)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.trySend(ctx, "POST", "/api/create_project", apiHeader(t, "Bearer "+ada, "{}"), jsonBody(t, createBody(sandbox.TeamBlackHole, "app")))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the client's deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}
	if got := f.sb.Projects(sandbox.TeamBlackHole); len(got) != 0 {
		t.Errorf("projects %+v", got)
	}
}

func TestCloseReleasesBlockedRequests(t *testing.T) {
	t.Parallel()
	tests := []string{sandbox.TeamBlackHole, sandbox.TeamSlow}
	for _, team := range tests {
		t.Run(team, func(t *testing.T) {
			t.Parallel()
			f := setup(t, sandbox.Options{SlowDelay: time.Hour})
			ada := f.login(t, sandbox.UserAda)
			answered := make(chan reply, 1)
			header, body := apiHeader(t, "Bearer "+ada, "{}"), jsonBody(t, createBody(team, "app"))
			go func() {
				rp, err := f.trySend(t.Context(), "POST", "/api/create_project", header, body)
				if err != nil {
					t.Errorf("request: %v", err)
				}
				answered <- rp
			}()
			// Close only once the request is inside the handler.
			deadline := time.Now().Add(5 * time.Second)
			for f.sb.Calls("create_project", team) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the request never arrived")
				}
				time.Sleep(5 * time.Millisecond)
			}
			select {
			case rp := <-answered:
				t.Fatalf("answered before Close: %d", rp.status)
			case <-time.After(50 * time.Millisecond):
			}
			f.sb.Close()
			select {
			case rp := <-answered:
				if rp.status != http.StatusServiceUnavailable {
					t.Errorf("after Close: %d %s, want 503", rp.status, rp.body)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not release the request")
			}
			// Other endpoints keep working after Close.
			if rp := f.api(t, "GET", "/api/dashboard/profile", ada, nil); rp.status != http.StatusOK {
				t.Errorf("profile after Close: %d", rp.status)
			}
		})
	}
}

// outcomes creates n projects on acme and names each answer: ok, slow (a
// full answer after at least SlowDelay), 500, 429 or malformed.
func randomOutcomes(t *testing.T, odds sandbox.RandomFaults, n int) []string {
	t.Helper()
	const slowDelay = 30 * time.Millisecond
	f := setup(t, sandbox.Options{RandomFaults: &odds, SlowDelay: slowDelay, ProjectQuotas: map[string]int{sandbox.TeamAcme: n}})
	ada := f.login(t, sandbox.UserAda)
	out := make([]string, n)
	for i := range out {
		start := time.Now()
		rp := f.api(t, "POST", "/api/create_project", ada, createBody(sandbox.TeamAcme, "app"))
		var v map[string]any
		switch {
		case rp.status == http.StatusInternalServerError:
			out[i] = "500"
		case rp.status == http.StatusTooManyRequests:
			if rp.header.Get("Retry-After") != "1" {
				t.Fatalf("call %d: 429 without Retry-After: 1", i+1)
			}
			out[i] = "429"
		case rp.status != http.StatusOK:
			t.Fatalf("call %d: %d %s", i+1, rp.status, rp.body)
		case json.Unmarshal(rp.body, &v) != nil:
			out[i] = "malformed"
		case time.Since(start) >= slowDelay:
			out[i] = "slow"
		default:
			out[i] = "ok"
		}
	}
	return out
}

func TestRandomFaultsAreSeededAndMixed(t *testing.T) {
	t.Parallel()
	odds := sandbox.RandomFaults{Seed: 7, Slow: 0.1, Internal: 0.2, RateLimited: 0.2, Malformed: 0.2}
	first := randomOutcomes(t, odds, 60)
	again := randomOutcomes(t, odds, 60)
	if strings.Join(first, " ") != strings.Join(again, " ") {
		t.Fatalf("the same seed gave different answers:\n%v\n%v", first, again)
	}
	seen := map[string]int{}
	for _, o := range first {
		seen[o]++
	}
	for _, kind := range []string{"ok", "slow", "500", "429", "malformed"} {
		if seen[kind] == 0 {
			t.Errorf("no %s answer in 60 draws: %v", kind, seen)
		}
	}
	odds.Seed = 8
	if other := randomOutcomes(t, odds, 60); strings.Join(other, " ") == strings.Join(first, " ") {
		t.Error("another seed gave the same answers")
	}
}

func TestRandomFaultsLeaveFailureTeamsAlone(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{RandomFaults: &sandbox.RandomFaults{Seed: 1, Internal: 1}})
	ada := f.login(t, sandbox.UserAda)
	if rp := f.api(t, "POST", "/api/create_project", ada, createBody(sandbox.TeamAcme, "app")); rp.status != http.StatusInternalServerError {
		t.Fatalf("acme with Internal: 1 = %d, want 500", rp.status)
	}
	if rp := f.api(t, "POST", "/api/create_project", ada, createBody(sandbox.TeamQuotaReached, "app")); rp.status != http.StatusBadRequest {
		t.Fatalf("quota-reached = %d, want its own 400", rp.status)
	}
}

func TestProjectQuotasOverrideTheDemoQuota(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{ProjectQuotas: map[string]int{sandbox.TeamSlow: 2}, SlowDelay: time.Millisecond})
	ada := f.login(t, sandbox.UserAda)
	for i, want := range []int{200, 200, 400} {
		if rp := f.api(t, "POST", "/api/create_project", ada, createBody(sandbox.TeamSlow, "app")); rp.status != want {
			t.Fatalf("call %d = %d %s, want %d", i+1, rp.status, rp.body, want)
		}
	}
}
