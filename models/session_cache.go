package models

import (
	"context"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
)

// SessionEndedChannel is the NOTIFY channel on which the database announces
// (by triggers, migration 00013) the hash (hex) of every session deleted, cut
// short or given another user or token, and of every session of a user whose
// name or email changed; '*' when the sessions table was emptied.
const SessionEndedChannel = "chefdeploy_session_ended"

// SessionCacheTTL bounds how long a cached session is used without asking the
// database. Every change is announced, so this is only a backstop (for a
// notification lost with its connection the cache already starts over);
// it was 5 s while deletes by hand went unannounced, and re-reading every
// session each 5 s on every replica was most of the database's queries
// under load.
const SessionCacheTTL = time.Minute

// SessionCache keeps signed-in sessions in memory, so that a request (above
// all the status poll every connecting browser sends each second) costs no
// query. DeleteSession notifies every replica, and each drops its copy (see
// notifiedCache); the replica that ended the session drops it at once with
// Invalidate. A session's expiry is checked on every hit.
type SessionCache struct {
	db    *sqlx.DB
	cache *notifiedCache[SessionWithUser]
}

// NewSessionCache makes a cache over db; it serves from memory only while Run
// is listening.
func NewSessionCache(db *sqlx.DB, logger *slog.Logger) *SessionCache {
	keyOf := func(payload string) (string, bool) {
		hash, err := hex.DecodeString(payload)
		// '*' (or anything else not a hash) empties the cache.
		return string(hash), err == nil && len(hash) > 0
	}
	return &SessionCache{db: db, cache: newNotifiedCache[SessionWithUser]("session cache", SessionEndedChannel, SessionCacheTTL, logger, keyOf)}
}

// Get returns the live session for a cookie's session id, from memory or with
// SessionByID (which also extends it), or ErrNotFound.
func (c *SessionCache) Get(ctx context.Context, id string) (SessionWithUser, error) {
	live := func(s SessionWithUser) bool { return time.Now().Before(s.ExpiresAt) }
	return c.cache.get(string(HashSessionID(id)), live, func() (SessionWithUser, error) { return SessionByID(ctx, c.db, id) })
}

// Invalidate drops the copy of the session with this cookie session id.
func (c *SessionCache) Invalidate(id string) { c.cache.invalidate(string(HashSessionID(id))) }

// Stats returns the cache's hits and misses so far.
func (c *SessionCache) Stats() (hits, misses uint64) {
	return c.cache.hits.Load(), c.cache.misses.Load()
}

// Listening reports whether the cache is serving from memory.
func (c *SessionCache) Listening() bool { return c.cache.listening.Load() }

// Run listens for ended sessions until ctx ends.
func (c *SessionCache) Run(ctx context.Context, databaseURL string) error {
	return c.cache.run(ctx, databaseURL)
}
