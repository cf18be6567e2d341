package handlers

import (
	"net/http"
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
	pool := newStackPool(30 * time.Second)
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
// new one starts, so their number follows the requests in flight, and one
// idle for the idle time ends.
type stackPool struct {
	work    chan func()
	idle    time.Duration
	started atomic.Int64 // goroutines ever started
	live    atomic.Int64 // goroutines running or idle now
}

func newStackPool(idle time.Duration) *stackPool {
	return &stackPool{work: make(chan func()), idle: idle}
}

// run runs f on an idle goroutine of the pool, or on a new one.
func (p *stackPool) run(f func()) {
	select {
	case p.work <- f:
	default:
		p.started.Add(1)
		p.live.Add(1)
		go p.serve(f)
	}
}

func (p *stackPool) serve(f func()) {
	defer p.live.Add(-1)
	f()
	idle := time.NewTimer(p.idle)
	defer idle.Stop()
	for {
		select {
		case f := <-p.work:
			f()
			idle.Reset(p.idle)
		case <-idle.C:
			return
		}
	}
}
