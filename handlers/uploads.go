package handlers

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

var (
	// errTooManyUploads: the user already has the most uploads in flight.
	errTooManyUploads = errors.New("too many uploads at once")
	// errUploadSpace: the uploads in flight would take more temporary space
	// than allowed.
	errUploadSpace = errors.New("no temporary space for the upload")
	// errUploadTooSlow: the body arrived slower than the minimum rate.
	errUploadTooSlow = errors.New("upload too slow")
	// errServerStopping: the replica is shutting down.
	errServerStopping = errors.New("server stopping")
)

// uploadGate bounds the deploy uploads this replica receives: per user, in
// temporary disk space, and in how slowly a body may arrive; and it cuts
// them off when the replica shuts down. The bounds are per replica (kept in
// memory): they protect this process's disk, file descriptors and time.
type uploadGate struct {
	maxPerUser int
	maxBytes   int64
	// perWindow bytes must arrive within each window.
	perWindow int64
	window    time.Duration

	mu       sync.Mutex
	perUser  map[string]int
	bytes    int64
	active   map[*upload]struct{}
	stopping bool
}

func newUploadGate(maxPerUser int, maxBytes, minRate int64, window time.Duration) *uploadGate {
	return &uploadGate{
		maxPerUser: maxPerUser, maxBytes: maxBytes, window: window,
		perWindow: max(1, int64(float64(minRate)*window.Seconds())),
		perUser:   map[string]int{}, active: map[*upload]struct{}{},
	}
}

// upload is one deploy upload in flight.
type upload struct {
	gate    *uploadGate
	user    string
	reserve int64
	rc      *http.ResponseController
	body    io.ReadCloser

	mu       sync.Mutex
	since    int64 // bytes since the deadline was last moved
	stopped  bool  // cut off by shutdown
	finished bool  // the body is read: deadlines no longer move
}

// begin admits an upload of at most reserve bytes for user, or says why not.
func (g *uploadGate) begin(w http.ResponseWriter, r *http.Request, user string, reserve int64) (*upload, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.stopping:
		return nil, errServerStopping
	case g.perUser[user] >= g.maxPerUser:
		return nil, errTooManyUploads
	case g.bytes+reserve > g.maxBytes:
		return nil, errUploadSpace
	}
	u := &upload{gate: g, user: user, reserve: reserve, rc: http.NewResponseController(w), body: r.Body}
	g.perUser[user]++
	g.bytes += reserve
	g.active[u] = struct{}{}
	// The body must keep arriving: each window must bring the minimum
	// rate's worth of bytes, or the read fails (see Read).
	u.rc.SetReadDeadline(time.Now().Add(g.window))
	return u, nil
}

// end releases what begin reserved; call it once the temporary file is gone.
func (u *upload) end() {
	g := u.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.active[u]; !ok {
		return
	}
	delete(g.active, u)
	g.bytes -= u.reserve
	if g.perUser[u.user]--; g.perUser[u.user] <= 0 {
		delete(g.perUser, u.user)
	}
}

// Read reads the body, moving the read deadline one window further each
// time a window's worth of bytes at the minimum rate has arrived. A missed
// deadline is errUploadTooSlow, or errServerStopping after stop.
func (u *upload) Read(p []byte) (int, error) {
	n, err := u.body.Read(p)
	u.mu.Lock()
	defer u.mu.Unlock()
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		if u.stopped {
			return n, errServerStopping
		}
		return n, errUploadTooSlow
	}
	u.since += int64(n)
	if !u.stopped && !u.finished && u.since >= u.gate.perWindow {
		u.since = 0
		u.rc.SetReadDeadline(time.Now().Add(u.gate.window))
	}
	return n, err
}

// Close closes the body.
func (u *upload) Close() error { return u.body.Close() }

// received clears the deadline once the body is read, so the rest of the
// request is not cut short.
func (u *upload) received() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.finished = true
	if !u.stopped {
		u.rc.SetReadDeadline(time.Time{})
	}
}

// stop cuts the upload's body off at once.
func (u *upload) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stopped = true
	u.rc.SetReadDeadline(time.Now())
}

// StopUploads refuses new uploads and cuts off every upload still receiving
// its body, whose handlers then answer 503 and remove their temporary
// files. The replica calls it when it starts shutting down.
func (s *Server) StopUploads() {
	g := s.uploads
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopping = true
	for u := range g.active {
		u.stop()
	}
}
