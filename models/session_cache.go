package models

import (
	"context"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// SessionEndedChannel is the NOTIFY channel on which DeleteSession announces
// the hash (hex) of every session it ends.
const SessionEndedChannel = "chefdeploy_session_ended"

// SessionCacheTTL bounds how long a cached session is used without asking the
// database: a session ended without a notification (a row deleted by hand, a
// user deleted with their sessions) stops working everywhere within it.
const SessionCacheTTL = 5 * time.Second

// SessionCache keeps signed-in sessions in memory, so that a request (above
// all the status poll every connecting browser sends each second) costs no
// query. DeleteSession notifies every replica, and each drops its copy when
// the notification arrives; the replica that ended the session drops it at
// once with Invalidate. While the LISTEN connection is down the cache is
// bypassed, and after a reconnect it starts empty, since notifications may
// have been missed. A session's expiry is checked on every hit.
type SessionCache struct {
	db  *sqlx.DB
	log *slog.Logger
	ttl time.Duration

	mu      sync.RWMutex
	entries map[string]cachedSession
	// generation changes on every invalidation; a load that raced with one
	// is not stored, so a session cannot come back after it ended.
	generation atomic.Uint64
	listening  atomic.Bool

	hits, misses atomic.Uint64
}

type cachedSession struct {
	session  SessionWithUser
	loadedAt time.Time
}

// maxCachedSessions bounds memory; past it the cache starts over.
const maxCachedSessions = 200_000

// NewSessionCache makes a cache over db; it serves from memory only while Run
// is listening.
func NewSessionCache(db *sqlx.DB, logger *slog.Logger) *SessionCache {
	return &SessionCache{db: db, log: logger, ttl: SessionCacheTTL, entries: map[string]cachedSession{}}
}

// Get returns the live session for a cookie's session id, from memory or with
// SessionByID (which also extends it), or ErrNotFound.
func (c *SessionCache) Get(ctx context.Context, id string) (SessionWithUser, error) {
	key := string(HashSessionID(id))
	if c.listening.Load() {
		c.mu.RLock()
		e, ok := c.entries[key]
		c.mu.RUnlock()
		now := time.Now()
		if ok && now.Sub(e.loadedAt) < c.ttl && now.Before(e.session.ExpiresAt) {
			c.hits.Add(1)
			return e.session, nil
		}
	}
	c.misses.Add(1)
	gen := c.generation.Load()
	s, err := SessionByID(ctx, c.db, id)
	if err != nil {
		return s, err
	}
	if c.listening.Load() {
		c.mu.Lock()
		if c.generation.Load() == gen {
			if len(c.entries) >= maxCachedSessions {
				c.entries = map[string]cachedSession{}
			}
			c.entries[key] = cachedSession{session: s, loadedAt: time.Now()}
		}
		c.mu.Unlock()
	}
	return s, nil
}

// Invalidate drops the copy of the session with this cookie session id.
func (c *SessionCache) Invalidate(id string) { c.drop(string(HashSessionID(id))) }

func (c *SessionCache) drop(key string) {
	c.mu.Lock()
	c.generation.Add(1)
	delete(c.entries, key)
	c.mu.Unlock()
}

func (c *SessionCache) reset() {
	c.mu.Lock()
	c.generation.Add(1)
	c.entries = map[string]cachedSession{}
	c.mu.Unlock()
}

// Stats returns the cache's hits and misses so far.
func (c *SessionCache) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

// Listening reports whether the cache is serving from memory.
func (c *SessionCache) Listening() bool { return c.listening.Load() }

// Run listens for ended sessions on its own connection until ctx ends, the
// way StatusCache.Run listens for changed apps.
func (c *SessionCache) Run(ctx context.Context, databaseURL string) error {
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
				c.log.Warn("session cache: listener disconnected", "err", err)
			}
		}
	})
	defer func() {
		c.listening.Store(false)
		listener.Close()
	}()
	if err := listener.Listen(SessionEndedChannel); err != nil {
		return err
	}
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
			hash, err := hex.DecodeString(n.Extra)
			if err != nil {
				c.reset()
				continue
			}
			c.drop(string(hash))
		case <-ping.C:
			go listener.Ping()
		}
	}
}
