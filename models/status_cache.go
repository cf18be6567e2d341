package models

import (
	"context"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
)

// AppChangedChannel is the NOTIFY channel on which the database announces
// every change to an app or its connection (see migration 00002).
const AppChangedChannel = "chefdeploy_app_changed"

// StatusCache keeps AppStatus in memory so that a steady-state status poll
// costs no query; triggers on apps and connections tell every replica which
// app changed (see notifiedCache).
type StatusCache struct {
	db    *sqlx.DB
	cache *notifiedCache[AppStatus]
}

// NewStatusCache makes a cache over db; it serves from memory only while Run
// is listening.
func NewStatusCache(db *sqlx.DB, logger *slog.Logger) *StatusCache {
	keyOf := func(appID string) (string, bool) { return appID, appID != "" }
	return &StatusCache{db: db, cache: newNotifiedCache[AppStatus]("status cache", AppChangedChannel, time.Minute, logger, keyOf)}
}

// Get returns the app's status from memory, or loads it with one query.
func (c *StatusCache) Get(ctx context.Context, appID string) (AppStatus, error) {
	return c.cache.get(appID, nil, func() (AppStatus, error) { return LoadAppStatus(ctx, c.db, appID) })
}

// Invalidate drops one app's copy.
func (c *StatusCache) Invalidate(appID string) { c.cache.invalidate(appID) }

// Stats returns the cache's hits and misses so far.
func (c *StatusCache) Stats() (hits, misses uint64) {
	return c.cache.hits.Load(), c.cache.misses.Load()
}

// Listening reports whether the cache is serving from memory.
func (c *StatusCache) Listening() bool { return c.cache.listening.Load() }

// Run listens for change notifications until ctx ends.
func (c *StatusCache) Run(ctx context.Context, databaseURL string) error {
	return c.cache.run(ctx, databaseURL)
}
