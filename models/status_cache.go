package models

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// AppChangedChannel is the NOTIFY channel on which the database announces
// every change to an app or its connection (see migration 00002).
const AppChangedChannel = "chefdeploy_app_changed"

// StatusCache keeps AppStatus in memory so that a steady-state status poll
// costs no query. It stays correct across replicas: every write to apps or
// connections fires a NOTIFY, on which every replica drops its copy. While
// the LISTEN connection is down (start-up, a network blip) the cache is
// bypassed, and after a reconnect it starts empty, since notifications may
// have been missed.
type StatusCache struct {
	db  *sqlx.DB
	log *slog.Logger
	ttl time.Duration

	mu      sync.RWMutex
	entries map[string]cachedStatus
	// generation changes on every invalidation; a load that raced with one
	// is not stored, so a stale read can never outlive its notification.
	generation atomic.Uint64
	listening  atomic.Bool

	hits, misses atomic.Uint64
}

type cachedStatus struct {
	status   AppStatus
	loadedAt time.Time
}

// maxCachedStatuses bounds memory; past it the cache starts over.
const maxCachedStatuses = 200_000

// NewStatusCache makes a cache over db; it serves from memory only while Run
// is listening.
func NewStatusCache(db *sqlx.DB, logger *slog.Logger) *StatusCache {
	return &StatusCache{db: db, log: logger, ttl: time.Minute, entries: map[string]cachedStatus{}}
}

// Get returns the app's status from memory, or loads it with one query.
func (c *StatusCache) Get(ctx context.Context, appID string) (AppStatus, error) {
	if c.listening.Load() {
		c.mu.RLock()
		e, ok := c.entries[appID]
		c.mu.RUnlock()
		if ok && time.Since(e.loadedAt) < c.ttl {
			c.hits.Add(1)
			return e.status, nil
		}
	}
	c.misses.Add(1)
	gen := c.generation.Load()
	st, err := LoadAppStatus(ctx, c.db, appID)
	if err != nil {
		return st, err
	}
	if c.listening.Load() {
		c.mu.Lock()
		if c.generation.Load() == gen {
			if len(c.entries) >= maxCachedStatuses {
				c.entries = map[string]cachedStatus{}
			}
			c.entries[appID] = cachedStatus{status: st, loadedAt: time.Now()}
		}
		c.mu.Unlock()
	}
	return st, nil
}

// Invalidate drops one app's copy.
func (c *StatusCache) Invalidate(appID string) {
	c.mu.Lock()
	c.generation.Add(1)
	delete(c.entries, appID)
	c.mu.Unlock()
}

func (c *StatusCache) reset() {
	c.mu.Lock()
	c.generation.Add(1)
	c.entries = map[string]cachedStatus{}
	c.mu.Unlock()
}

// Stats returns the cache's hits and misses so far.
func (c *StatusCache) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

// Listening reports whether the cache is serving from memory.
func (c *StatusCache) Listening() bool { return c.listening.Load() }

// Run listens for change notifications on its own connection (LISTEN needs
// one; it is not taken from the pool) until ctx ends.
func (c *StatusCache) Run(ctx context.Context, databaseURL string) error {
	listener := pq.NewListener(databaseURL, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventReconnected:
			// pq has re-issued LISTEN by now.
			c.reset()
			c.listening.Store(true)
		case pq.ListenerEventDisconnected, pq.ListenerEventConnectionAttemptFailed:
			c.listening.Store(false)
			c.reset()
			if err != nil {
				c.log.Warn("status cache: listener disconnected", "err", err)
			}
		}
	})
	defer func() {
		c.listening.Store(false)
		listener.Close()
	}()
	if err := listener.Listen(AppChangedChannel); err != nil {
		return err
	}
	// Listen returns once the LISTEN is in place: from here on, no change
	// can slip by unannounced.
	c.reset()
	c.listening.Store(true)
	ping := time.NewTicker(time.Minute)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-listener.Notify:
			if n == nil {
				// Reconnected: whatever happened meanwhile is unknown.
				c.reset()
				continue
			}
			c.Invalidate(n.Extra)
		case <-ping.C:
			go listener.Ping()
		}
	}
}
