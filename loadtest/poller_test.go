package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const fragment = `<div data-testid="connection" data-state="%s">…</div>`

// statusServer answers /apps/{id}/status as the product does, and counts
// the connections it accepted.
func statusServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// signedBrowser is a Browser holding a session cookie for srv.
func signedBrowser(t *testing.T, srv *httptest.Server) *Browser {
	t.Helper()
	b := NewBrowser(srv.URL, nil)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b.jar.SetCookies(u, []*http.Cookie{{Name: "chefdeploy_session", Value: "abc"}})
	return b
}

// signedPoller is a Poller with signedBrowser's cookies, closed at the end.
func signedPoller(t *testing.T, srv *httptest.Server, rec *Recorder) *Poller {
	t.Helper()
	p, err := NewPoller(srv.URL, signedBrowser(t, srv), rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func route(t *testing.T, rec *Recorder) RouteSummary {
	t.Helper()
	for _, r := range rec.Summary(time.Second) {
		if r.Route == "GET /apps/{id}/status" {
			return r
		}
	}
	return RouteSummary{}
}

func TestPollerKeepsOneConnectionAndSendsWhatThePageSends(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	srv, conns := statusServer(t, func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("chefdeploy_session")
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s hx=%s cookie=%v", r.Method, r.URL.RequestURI(), r.Header.Get("HX-Request"), c))
		mu.Unlock()
		state := "connecting"
		if r.URL.Query().Get("poll") == "" {
			state = "connected"
		}
		fmt.Fprintf(w, fragment, state)
	})
	rec := NewRecorder()
	p := signedPoller(t, srv, rec)
	ctx := context.Background()
	for i, polling := range []bool{false, true, true, false} {
		st, err := p.Status(ctx, "app-1", polling)
		if err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		want := map[bool]string{false: "connected", true: "connecting"}[polling]
		if st != want {
			t.Fatalf("poll %d: state %q, want %q", i, st, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("4 polls opened %d connections, want 1 kept alive", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 4 || seen[0] != "GET /apps/app-1/status hx=true cookie=chefdeploy_session=abc" || seen[1] != "GET /apps/app-1/status?poll=1 hx=true cookie=chefdeploy_session=abc" {
		t.Errorf("requests = %q", seen)
	}
	if r := route(t, rec); r.Count != 4 || r.Errors != 0 || r.Server5xx != 0 {
		t.Errorf("recorded %+v, want 4 answers", r)
	}
}

// rawServer answers the nth request (from 1) on each of its connections
// with answer(n), allocating nothing of its own per request, so that what a
// test counts is the client's.
func rawServer(t *testing.T, answer func(n int) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				n := 0
				for {
					line, err := r.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) <= 2 { // the blank line ending a GET
						n++
						if _, err := io.WriteString(c, answer(n)); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// A poll makes almost no garbage: that is what the Poller is for.
func TestPollerAllocatesAlmostNothingPerPoll(t *testing.T) {
	body := fmt.Sprintf(fragment, "connected")
	ok := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	base := rawServer(t, func(int) string { return ok })
	p, err := NewPoller(base, nil, NewRecorder())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if _, err := p.Status(ctx, "app-1", false); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(500, func() {
		if _, err := p.Status(ctx, "app-1", false); err != nil {
			t.Fatal(err)
		}
	})
	// The regexp's match list, the state string and the recorder's
	// appends (amortized).
	if allocs > 4 {
		t.Errorf("%.1f allocations per poll, want at most 4", allocs)
	}
	b := NewBrowser(base, NewRecorder())
	defer b.Close()
	viaNetHTTP := testing.AllocsPerRun(500, func() {
		if _, err := b.Status(ctx, "app-1", false); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("allocations per poll: Poller %.1f, Browser (net/http) %.1f", allocs, viaNetHTTP)
}

func TestPollerReadsChunkedAnswersAndKeepsNewCookies(t *testing.T) {
	t.Parallel()
	var cookies []string
	var mu sync.Mutex
	srv, conns := statusServer(t, func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("chefdeploy_session")
		mu.Lock()
		cookies = append(cookies, c.Value)
		n := len(cookies)
		mu.Unlock()
		if n == 1 {
			http.SetCookie(w, &http.Cookie{Name: "chefdeploy_session", Value: "rotated", Path: "/"})
		}
		// Flushed in parts: the answer goes out chunked.
		fmt.Fprint(w, strings.Repeat(" ", 5000))
		w.(http.Flusher).Flush()
		fmt.Fprint(w, `<div data-testid="connection" `)
		w.(http.Flusher).Flush()
		fmt.Fprint(w, `data-state="failed">…</div>`)
	})
	p, err := NewPoller(srv.URL, signedBrowser(t, srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 2 {
		st, err := p.Status(context.Background(), "app-1", false)
		if err != nil || st != "failed" {
			t.Fatalf("poll %d = %q, %v; want failed from the chunked body", i, st, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(cookies) != 2 || cookies[0] != "abc" || cookies[1] != "rotated" {
		t.Errorf("session cookies sent = %q, want abc then the rotated one", cookies)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("opened %d connections, want 1", n)
	}
}

func TestPollerReconnectsWhenTheServerClosesTheConnection(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv, conns := statusServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Connection", "close")
		}
		fmt.Fprintf(w, fragment, "connected")
	})
	rec := NewRecorder()
	p := signedPoller(t, srv, rec)
	ctx := context.Background()
	// 1: Connection: close; 2: a new connection; then the server drops
	// its idle connections, and 3 goes again on a new one, unrecorded.
	for i := range 3 {
		if i == 2 {
			srv.CloseClientConnections()
		}
		if st, err := p.Status(ctx, "app-1", false); err != nil || st != "connected" {
			t.Fatalf("poll %d = %q, %v", i, st, err)
		}
	}
	if c := conns.Load(); c != 3 {
		t.Errorf("opened %d connections, want 3", c)
	}
	if r := route(t, rec); r.Count != 3 || r.Errors != 0 {
		t.Errorf("recorded %+v, want 3 answers and no error", r)
	}
}

func TestPollerRecordsErrorAnswersAndRefusesMalformedOnes(t *testing.T) {
	t.Parallel()
	srv, _ := statusServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	rec := NewRecorder()
	p, err := NewPoller(srv.URL, nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Status(context.Background(), "app-1", false); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a 503 gave %v", err)
	}
	p.Close()
	if r := route(t, rec); r.Count != 1 || r.Server5xx != 1 {
		t.Errorf("recorded %+v, want one 5xx", r)
	}

	// A server that answers garbage, then one that sends a huge length.
	for _, answer := range []string{
		"garbage\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nno state!!",
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
				fmt.Fprint(c, answer)
			}
		}()
		rec := NewRecorder()
		p, err := NewPoller("http://"+ln.Addr().String(), nil, rec)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := p.Status(context.Background(), "app-1", false); err == nil {
			t.Errorf("answer %q gave state %q and no error", answer, st)
		}
		if r := route(t, rec); r.Errors != 1 {
			t.Errorf("answer %q recorded %+v, want one error", answer, r)
		}
		p.Close()
		ln.Close()
	}
}

func TestPollerStopsWhenTheRunEnds(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, _ := statusServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
	})
	defer close(release)
	rec := NewRecorder()
	p, err := NewPoller(srv.URL, nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Status(ctx, "app-1", false)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a poll cut short by the run's end reported no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the poll went on after the run ended")
	}
	if r := route(t, rec); r.Errors != 0 {
		t.Errorf("the run's end was recorded as an error: %+v", r)
	}
	if _, err := NewPoller("https://example.com", nil, nil); err == nil {
		t.Error("NewPoller accepted an https base")
	}
}

// An answer with Connection: close ends the connection even when the server
// leaves the socket open: a second request on it would be answered by
// whatever the server does next ("reused" here), not by a fresh exchange.
func TestPollerHonoursConnectionClose(t *testing.T) {
	t.Parallel()
	answer := func(state, extra string) string {
		body := fmt.Sprintf(fragment, state)
		return fmt.Sprintf("HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s", extra, len(body), body)
	}
	base := rawServer(t, func(n int) string {
		if n > 1 {
			return answer("reused", "")
		}
		return answer("connected", "Connection: close\r\n")
	})
	p, err := NewPoller(base, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 3 {
		if st, err := p.Status(context.Background(), "app-1", false); err != nil || st != "connected" {
			t.Fatalf("poll %d = %q, %v; want connected, each on a new connection", i, st, err)
		}
	}
}
