package handlers

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ownStack runs each request on a pooled goroutine while the connection's
// goroutine waits. A Go server keeps one goroutine per open connection, and
// a goroutine keeps the stack its deepest request grew until a GC shrinks
// it: rendering a page takes about 11 KB, so every idle keep-alive
// connection held a 16 KB stack (85 MB at 5,000 polling browsers). Run
// elsewhere, the deep part stays with a few busy goroutines, and an idle
// connection keeps only what reading a request needs. A panic that escapes
// the handler is raised again on the connection's goroutine, where net/http
// expects it (http.ErrAbortHandler).
func ownStack(next http.Handler) http.Handler {
	pool := &stackPool{idle: 10 * time.Second}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := make(chan any, 1)
		pool.run(func() {
			defer func() { done <- recover() }()
			next.ServeHTTP(w, r)
		})
		if v := <-done; v != nil {
			panic(v)
		}
	})
}

// stackPool runs functions on goroutines that keep, from one to the next,
// the stack they grew: a fresh goroutine starts at 2 KB and copies its
// stack three times on the way to the 16 KB a page needs, which cost 9% of
// the CPU under 5,000 pollers. Nothing queues: when no goroutine is idle a
// new one starts, so their number follows the requests in flight. The one
// idle the shortest time goes first, so after a burst the extra goroutines
// stay idle, and each run ends those idle longer than idle.
type stackPool struct {
	idle    time.Duration
	mu      sync.Mutex
	ready   []*pooled    // idle goroutines, the longest idle first
	started atomic.Int64 // goroutines ever started
	live    atomic.Int64 // goroutines running or idle now
}

type pooled struct {
	work  chan func() // capacity 1; nil ends the goroutine
	since time.Time   // idle since
}

// run runs f on the goroutine idle the shortest time, or on a new one.
func (p *stackPool) run(f func()) {
	now := time.Now()
	p.mu.Lock()
	p.retire(now)
	if n := len(p.ready); n > 0 {
		g := p.ready[n-1]
		p.ready[n-1] = nil
		p.ready = p.ready[:n-1]
		p.mu.Unlock()
		g.work <- f
		return
	}
	p.mu.Unlock()
	p.started.Add(1)
	p.live.Add(1)
	go p.serve(&pooled{work: make(chan func(), 1)}, f)
}

// retire ends the goroutines idle longer than p.idle; p.mu is held.
func (p *stackPool) retire(now time.Time) {
	n := 0
	for n < len(p.ready) && now.Sub(p.ready[n].since) > p.idle {
		p.ready[n].work <- nil
		n++
	}
	if n > 0 {
		rest := copy(p.ready, p.ready[n:])
		clear(p.ready[rest:])
		p.ready = p.ready[:rest]
	}
}

func (p *stackPool) serve(g *pooled, f func()) {
	defer p.live.Add(-1)
	for f != nil {
		f()
		p.mu.Lock()
		g.since = time.Now()
		p.ready = append(p.ready, g)
		p.mu.Unlock()
		f = <-g.work
	}
}
