package handlers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// deep uses about n KB of stack.
//
//go:noinline
func deep(n int) byte {
	var pad [1024]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return pad[0]
	}
	return pad[n%len(pad)] + deep(n-1)
}

// An idle keep-alive connection does not keep the stack its request grew:
// 200 connections that each served a request needing 64 KB of stack, ten at
// a time, hold about what 200 connections that served a shallow one hold
// (the pool's few goroutines keep theirs). Without ownStack each connection
// keeps a 128 KB stack until GCs shrink it (GC is off here).
func TestIdleConnectionsDoNotKeepTheRequestsStack(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	const conns = 200
	perConn := func(h http.Handler) float64 {
		srv := httptest.NewServer(ownStack(h))
		defer srv.Close()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := make(chan struct{})
		errs := make(chan error, conns)
		// Each browser its own connection, kept open; they poll at
		// different moments, so a few requests are in flight at once.
		inFlight := make(chan struct{}, 10)
		for range conns {
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			go func() {
				<-start
				inFlight <- struct{}{}
				defer func() { <-inFlight }()
				res, err := client.Get(srv.URL)
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				errs <- err
			}()
		}
		close(start)
		for range conns {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		return float64(int64(after.StackInuse)-int64(before.StackInuse)) / conns / 1024
	}
	shallow := perConn(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	deepKB := perConn(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte{deep(64)})
	}))
	t.Logf("stack per connection: %.1f KB after a shallow request, %.1f KB after a 64 KB-deep one", shallow, deepKB)
	if deepKB > shallow+16 {
		t.Errorf("each idle connection keeps %.1f KB more stack after a deep request; want under 16 KB more", deepKB-shallow)
	}
}

// A panic that escapes the handlers reaches net/http on the connection's
// goroutine: http.ErrAbortHandler drops the connection, and the process lives.
func TestOwnStackRaisesPanicsOnTheConnection(t *testing.T) {
	srv := httptest.NewServer(ownStack(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	})))
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err == nil {
		res.Body.Close()
		t.Fatalf("an aborted handler answered %d; want the connection dropped", res.StatusCode)
	}
}

// The pool reuses the goroutine idle the shortest time rather than start
// one, starts one when all are busy (nothing waits for a goroutine), and
// after a burst ends the extra ones once they have been idle long enough,
// though requests keep coming.
func TestStackPoolReusesAndRetiresGoroutines(t *testing.T) {
	p := &stackPool{idle: 200 * time.Millisecond}
	ran := make(chan struct{})
	one := func() {
		p.run(func() { ran <- struct{}{} })
		<-ran
		waitUntil(t, "the goroutine idle again", func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return len(p.ready) == int(p.live.Load())
		})
	}
	for range 20 {
		one()
	}
	if n := p.started.Load(); n != 1 {
		t.Fatalf("%d goroutines started for 20 requests one after another; want 1, reused", n)
	}

	// A burst: all busy, so new ones start and none waits.
	release := make(chan struct{})
	const burst = 8
	for range burst {
		p.run(func() { <-release })
	}
	if n := p.live.Load(); n < burst {
		t.Fatalf("%d goroutines live with %d requests in flight", n, burst)
	}
	close(release)
	// Requests one at a time go on; the burst's goroutines idle out.
	waitUntil(t, "the burst's goroutines to end", func() bool {
		one()
		return p.live.Load() == 1
	})
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
