package models

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// notifiedCache keeps values in memory and stays correct across replicas:
// whoever changes what a key stands for fires a NOTIFY on the cache's
// channel, and every replica drops its copy when it arrives. While the
// LISTEN connection is down (start-up, a network blip) the cache is bypassed,
// and after a reconnect it starts empty, since notifications may have been
// missed. A ttl bounds how long a copy lives even so.
type notifiedCache[V any] struct {
	name    string
	channel string
	ttl     time.Duration
	log     *slog.Logger
	// keyOf reads the key out of a notification; false empties the cache.
	keyOf func(payload string) (string, bool)

	mu      sync.RWMutex
	entries map[string]notifiedEntry[V]
	// generation changes on every invalidation; a load that raced with one
	// is not stored, so a stale read can never outlive its notification.
	generation atomic.Uint64
	listening  atomic.Bool

	hits, misses atomic.Uint64
}

type notifiedEntry[V any] struct {
	value    V
	loadedAt time.Time
}

// maxCachedEntries bounds memory; past it a cache starts over.
const maxCachedEntries = 200_000

func newNotifiedCache[V any](name, channel string, ttl time.Duration, logger *slog.Logger, keyOf func(string) (string, bool)) *notifiedCache[V] {
	if logger == nil {
		logger = slog.Default()
	}
	return &notifiedCache[V]{name: name, channel: channel, ttl: ttl, log: logger, keyOf: keyOf, entries: map[string]notifiedEntry[V]{}}
}

// get returns the copy of key when it is fresh and usable, else loads and
// (unless an invalidation raced with the load) keeps it.
func (c *notifiedCache[V]) get(key string, usable func(V) bool, load func() (V, error)) (V, error) {
	if c.listening.Load() {
		c.mu.RLock()
		e, ok := c.entries[key]
		c.mu.RUnlock()
		if ok && time.Since(e.loadedAt) < c.ttl && (usable == nil || usable(e.value)) {
			c.hits.Add(1)
			return e.value, nil
		}
	}
	c.misses.Add(1)
	gen := c.generation.Load()
	v, err := load()
	if err != nil {
		return v, err
	}
	if c.listening.Load() {
		c.mu.Lock()
		if c.generation.Load() == gen {
			if len(c.entries) >= maxCachedEntries {
				c.entries = map[string]notifiedEntry[V]{}
			}
			c.entries[key] = notifiedEntry[V]{value: v, loadedAt: time.Now()}
		}
		c.mu.Unlock()
	}
	return v, nil
}

// invalidate drops one key's copy.
func (c *notifiedCache[V]) invalidate(key string) {
	c.mu.Lock()
	c.generation.Add(1)
	delete(c.entries, key)
	c.mu.Unlock()
}

func (c *notifiedCache[V]) reset() {
	c.mu.Lock()
	c.generation.Add(1)
	c.entries = map[string]notifiedEntry[V]{}
	c.mu.Unlock()
}

// run listens on its own connection (LISTEN needs one; it is not taken from
// the pool) until ctx ends.
func (c *notifiedCache[V]) run(ctx context.Context, databaseURL string) error {
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
				c.log.Warn(c.name+": listener disconnected", "err", err)
			}
		}
	})
	defer func() {
		c.listening.Store(false)
		listener.Close()
	}()
	if err := listener.Listen(c.channel); err != nil {
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
			if key, ok := c.keyOf(n.Extra); ok {
				c.invalidate(key)
			} else {
				c.reset()
			}
		case <-ping.C:
			go listener.Ping()
		}
	}
}
