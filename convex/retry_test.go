package convex

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetriedToSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t, script(reply{status: 500}, reply{status: 500}, ok(`[{"id":1,"slug":"acme"}]`)))
	teams, err := b.client.Teams(context.Background(), userToken)
	if err != nil || len(teams) != 1 {
		t.Fatalf("got %v, %v", teams, err)
	}
	if n := len(b.srv.requests()); n != 3 {
		t.Errorf("server saw %d requests, want 3", n)
	}
}

func TestCreateProjectResendsSameBody(t *testing.T) {
	t.Parallel()
	b := setup(t, script(reply{status: 503}, ok(`{"projectSlug":"p","projectId":1,"deploymentName":"d","prodUrl":"https://d.convex.cloud"}`)))
	got, err := b.client.CreateProject(context.Background(), userToken, "acme", "P")
	if err != nil || got.TeamSlug != "acme" {
		t.Fatalf("got %+v, %v (team slug defaults to the requested one)", got, err)
	}
	reqs := b.srv.requests()
	if len(reqs) != 2 || !bytes.Equal(reqs[0].Body, reqs[1].Body) || len(reqs[0].Body) == 0 {
		t.Errorf("bodies differ across attempts: %q", reqs)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	b := setup(t, script(reply{status: 429, header: map[string]string{"Retry-After": "1"}}, ok(`{"centitokensUsed":1}`)))
	if _, err := b.client.TokenInfo(context.Background(), userToken, "acme"); err != nil {
		t.Fatal(err)
	}
	reqs := b.srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("server saw %d requests, want 2", len(reqs))
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 900*time.Millisecond {
		t.Errorf("second request came %v after the first; Retry-After: 1 asks for ~1s", gap)
	}
}

func TestNotRetried(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 401, 403, 404, 409, 422} {
		b := setup(t, script(reply{status: status}))
		if _, err := b.client.Teams(context.Background(), userToken); err == nil {
			t.Fatalf("%d: no error", status)
		}
		if n := len(b.srv.requests()); n != 1 {
			t.Errorf("%d: server saw %d requests, want exactly 1", status, n)
		}
	}
}

func TestMaxAttemptsWithoutDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, script(reply{status: 500}), func(o *Options) { o.MaxAttempts = 3 })
	err := b.client.DeleteProject(context.Background(), userToken, 7)
	if UserMessage(err) != "Convex delete_project failed: 500" {
		t.Errorf("UserMessage = %q", UserMessage(err))
	}
	if n := len(b.srv.requests()); n != 3 {
		t.Errorf("server saw %d requests, want 3", n)
	}
}

// blackHole never answers until the client gives up.
func blackHole(w http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() }

func TestNoAnswerBeforeDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, blackHole)
	const deadline = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	_, err := b.client.CreateProject(ctx, userToken, "acme", "P")
	if took := time.Since(start); took > deadline+200*time.Millisecond {
		t.Errorf("returned after %v, deadline was %v", took, deadline)
	}
	if got := UserMessage(err); got != "Failed to connect to project" {
		t.Errorf("UserMessage = %q (err %v)", got, err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
	}
	if e, _ := err.(*Error); e == nil || e.Status != 0 || !e.Retryable() {
		t.Errorf("err = %#v, want *Error with Status 0", err)
	}
	assertNoSecrets(t, err)
}

// TestDeadlineEndsRetries: retries that the deadline cuts short are no final
// answer, whatever the last attempt got.
func TestDeadlineEndsRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply reply
		max   time.Duration // the call must return well before this
	}{
		{"5xx until the deadline", reply{status: 500}, 700 * time.Millisecond},
		{"Retry-After past the deadline stops at once", reply{status: 429, header: map[string]string{"Retry-After": "5"}}, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, script(tt.reply), func(o *Options) { o.BaseBackoff = 50 * time.Millisecond; o.MaxAttempts = 100 })
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := b.client.Authorize(ctx, userToken, 7, OAuthApp{ClientID: "c", ClientSecret: clientSecret})
			if took := time.Since(start); took > tt.max {
				t.Errorf("returned after %v, want under %v", took, tt.max)
			}
			if got := UserMessage(err); got != "Failed to connect to project" {
				t.Errorf("UserMessage = %q (err %v)", got, err)
			}
			assertNoSecrets(t, err)
		})
	}
}

// TestAttemptsEndRetries: a server that keeps failing is reported with its
// own status once MaxAttempts are spent, even with time left.
func TestAttemptsEndRetries(t *testing.T) {
	t.Parallel()
	b := setup(t, script(reply{status: 500}), func(o *Options) { o.BaseBackoff = time.Millisecond; o.MaxAttempts = 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := b.client.Authorize(ctx, userToken, 7, OAuthApp{ClientID: "c", ClientSecret: clientSecret})
	if got := UserMessage(err); got != "Failed to create project deploy key: 500" {
		t.Errorf("UserMessage = %q (err %v)", got, err)
	}
	if n := len(b.srv.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := New(Options{BaseURL: url, BaseBackoff: time.Millisecond, MaxAttempts: 2})
	_, err := c.Profile(context.Background(), userToken)
	if got := UserMessage(err); got != "Failed to connect to project" {
		t.Errorf("UserMessage = %q (err %v)", got, err)
	}
	if e, _ := err.(*Error); e == nil || e.Status != 0 || !e.Retryable() {
		t.Errorf("err = %#v, want a retryable *Error with Status 0", err)
	}
	assertNoSecrets(t, err)
}

func TestCancelStopsAtOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := setup(t, func(w http.ResponseWriter, r *http.Request, n int) {
		cancel() // cancelled while the client is about to back off
		w.WriteHeader(http.StatusServiceUnavailable)
	}, func(o *Options) { o.BaseBackoff = 2 * time.Second })
	start := time.Now()
	_, err := b.client.Teams(ctx, userToken)
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("returned after %v", took)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := len(b.srv.requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestHostingDeployResendsIdenticalBody(t *testing.T) {
	t.Parallel()
	zip := bytes.Repeat([]byte("PK\x03\x04site"), 5000)
	var opened atomic.Int32
	body := func() (io.ReadCloser, error) {
		opened.Add(1)
		return io.NopCloser(bytes.NewReader(zip)), nil
	}
	b := setup(t, script(reply{status: 502}, reply{status: 500}, ok(`{"ok":true}`)), func(o *Options) { o.DeploySecret = hostSecret })
	got, err := b.client.HostingDeploy(context.Background(), deployKey, "happy-otter-123", int64(len(zip)), body)
	if err != nil || string(got) != `{"ok":true}` {
		t.Fatalf("got %s, %v", got, err)
	}
	reqs := b.srv.requests()
	if len(reqs) != 3 || opened.Load() != 3 {
		t.Fatalf("%d requests, body opened %d times; want 3 and 3", len(reqs), opened.Load())
	}
	for i, r := range reqs {
		if !bytes.Equal(r.Body, zip) {
			t.Errorf("attempt %d sent %d bytes, not the zip", i+1, len(r.Body))
		}
		if r.Header.Get("convex-chef-deploy-secret") != hostSecret || r.Header.Get("Authorization") != "Bearer "+deployKey {
			t.Errorf("attempt %d lost its headers", i+1)
		}
	}
}

func TestHostingDeployBodyOpenFails(t *testing.T) {
	t.Parallel()
	b := setup(t, script(ok(`{}`)))
	_, err := b.client.HostingDeploy(context.Background(), deployKey, "d", 1, func() (io.ReadCloser, error) { return nil, errors.New("disk gone") })
	if err == nil || len(b.srv.requests()) != 0 {
		t.Fatalf("err = %v, requests = %d", err, len(b.srv.requests()))
	}
	if e, _ := err.(*Error); e == nil || e.Retryable() {
		t.Errorf("err = %#v, want a final *Error", err)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 3 ", 3 * time.Second},
		{"0", 0},
		{"-4", 0},
		{"soon", 0},
		{"86400", maxRetryAfter},
		{"99999999999999999999", 0},
		{now.Add(4 * time.Second).Format(http.TimeFormat), 4 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(time.Hour).Format(http.TimeFormat), maxRetryAfter},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	c := New(Options{BaseBackoff: 100 * time.Millisecond})
	for n := 1; n <= 40; n++ {
		ceiling := min(100*time.Millisecond<<min(n-1, 10), maxBackoff)
		for range 50 {
			if d := c.backoff(n); d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, want within [0, %v]", n, d, ceiling)
			}
		}
	}
}
