package models

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
)

// SiteCache keeps what each deployment's site serves in memory, so that a
// request to a site costs no query for it; triggers on sites and
// connections tell every replica which deployment's site changed (see
// notifiedCache). A deployment without a live site is remembered too, so
// requests for unknown sites cost no query either.
type SiteCache struct {
	db    *sqlx.DB
	cache *notifiedCache[LiveSite]
}

// NewSiteCache makes a cache over db; it serves from memory only while Run
// is listening.
func NewSiteCache(db *sqlx.DB, logger *slog.Logger) *SiteCache {
	keyOf := func(name string) (string, bool) { return name, name != "" }
	return &SiteCache{db: db, cache: newNotifiedCache[LiveSite]("site cache", SiteChangedChannel, time.Minute, logger, keyOf)}
}

// Get returns what deploymentName's site serves, or ErrNotFound.
func (c *SiteCache) Get(ctx context.Context, deploymentName string) (LiveSite, error) {
	s, err := c.cache.get(deploymentName, nil, func() (LiveSite, error) {
		s, err := LoadLiveSite(ctx, c.db, deploymentName)
		if errors.Is(err, ErrNotFound) {
			return LiveSite{}, nil
		}
		return s, err
	})
	if err == nil && s.BundleSHA256 == "" {
		return s, ErrNotFound
	}
	return s, err
}

// Listening reports whether the cache is serving from memory.
func (c *SiteCache) Listening() bool { return c.cache.listening.Load() }

// Run listens for change notifications until ctx ends.
func (c *SiteCache) Run(ctx context.Context, databaseURL string) error {
	return c.cache.run(ctx, databaseURL)
}
