package handlers

import (
	"context"
	"sync"
)

// turns lets one request per key (a user) at a time through a section, in
// this process. A user's app creates take turns on their row in PostgreSQL
// anyway (that is what makes the app limit hold across replicas); queueing
// them here first means a flood of one user's creates waits holding no
// database connection, instead of filling the pool that every other
// request needs while it waits for the row.
type turns struct {
	mu    sync.Mutex
	lines map[string]*turnLine
}

// turnLine is one key's turn (a one-slot channel) and how many want it.
type turnLine struct {
	turn    chan struct{}
	waiting int
}

// take waits for key's turn, or for ctx to end; done gives the turn up.
func (t *turns) take(ctx context.Context, key string) (done func(), err error) {
	t.mu.Lock()
	if t.lines == nil {
		t.lines = map[string]*turnLine{}
	}
	l := t.lines[key]
	if l == nil {
		l = &turnLine{turn: make(chan struct{}, 1)}
		t.lines[key] = l
	}
	l.waiting++
	t.mu.Unlock()
	select {
	case l.turn <- struct{}{}:
		return func() { <-l.turn; t.leave(key, l) }, nil
	case <-ctx.Done():
		t.leave(key, l)
		return nil, ctx.Err()
	}
}

// leave forgets key once nobody waits for it, so the map holds only keys in use.
func (t *turns) leave(key string, l *turnLine) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.waiting--; l.waiting == 0 {
		delete(t.lines, key)
	}
}
