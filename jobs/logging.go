package jobs

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// quietHandler passes on only records at or above min: River reports its
// routine job counts at info level every few seconds.
type quietHandler struct {
	slog.Handler
	min slog.Level
}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietHandler{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{Handler: h.Handler.WithGroup(name), min: h.min}
}

// repeatFilter logs the first record of each warning or error and drops its
// repeats for as long as they keep coming: during a database outage River
// reports the same fetch failure every poll (307 lines in 17 s). Once a
// message has not recurred for quiet, one summary says how often it
// repeated, and the next occurrence is news again. Records about one job
// (a job_id attribute) are told apart by it.
type repeatFilter struct {
	slog.Handler
	state *repeatState
}

type repeatState struct {
	quiet   time.Duration
	mu      sync.Mutex
	repeats map[string]*repeat
}

// repeat is one message being repeated.
type repeat struct {
	msg         string
	first, last time.Time
	dropped     int
	// handler is the one that logged the first record, with its attributes.
	handler slog.Handler
}

// repeatQuiet is how long a failure must stay away to count as over.
const repeatQuiet = 10 * time.Second

func newRepeatFilter(h slog.Handler, quiet time.Duration) repeatFilter {
	return repeatFilter{Handler: h, state: &repeatState{quiet: quiet, repeats: map[string]*repeat{}}}
}

func (h repeatFilter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.Handler.Handle(ctx, r)
	}
	key := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "job_id" {
			key += "\x00" + a.Value.String()
			return false
		}
		return true
	})
	s := h.state
	s.mu.Lock()
	if rep, ok := s.repeats[key]; ok {
		rep.dropped++
		rep.last = r.Time
		s.mu.Unlock()
		return nil
	}
	rep := &repeat{msg: r.Message, first: r.Time, last: r.Time, handler: h.Handler}
	s.repeats[key] = rep
	s.mu.Unlock()
	s.watch(key, rep, s.quiet)
	return h.Handler.Handle(ctx, r)
}

// watch ends the repeat once it has been quiet long enough, with a summary
// when anything was dropped.
func (s *repeatState) watch(key string, rep *repeat, after time.Duration) {
	time.AfterFunc(after, func() {
		s.mu.Lock()
		if wait := s.quiet - time.Since(rep.last); wait > 0 {
			s.mu.Unlock()
			s.watch(key, rep, wait)
			return
		}
		delete(s.repeats, key)
		dropped, span := rep.dropped, rep.last.Sub(rep.first)
		s.mu.Unlock()
		if dropped == 0 {
			return
		}
		// A warning: the trouble is over, and what it was is in the first record.
		summary := slog.NewRecord(time.Now(), slog.LevelWarn, rep.msg+": stopped after repeating", 0)
		summary.AddAttrs(slog.Int("repeats", dropped), slog.Duration("over", span.Round(time.Millisecond)))
		rep.handler.Handle(context.Background(), summary)
	})
}

func (h repeatFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return repeatFilter{Handler: h.Handler.WithAttrs(attrs), state: h.state}
}

func (h repeatFilter) WithGroup(name string) slog.Handler {
	return repeatFilter{Handler: h.Handler.WithGroup(name), state: h.state}
}
