package models

import (
	"context"
	"log/slog"
	"math/rand/v2"
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
	// version counts invalidations. invalidated holds, per key, the version
	// at which it was last dropped, and resetAt that of the last reset: a
	// load that began before either is neither kept nor shared, so a stale
	// read never outlives its notification. It is per key so that a busy
	// replica's stream of notifications about other apps does not throw
	// away every load (and send every poll to the database).
	version     uint64
	invalidated map[string]uint64
	resetAt     uint64
	// flights are the loads running now, by key: concurrent misses of one
	// key share one query instead of each sending its own.
	flights   map[string]*flight[V]
	listening atomic.Bool

	// misses counts loads (queries); shared, the misses that waited for
	// another caller's load instead.
	hits, misses, shared atomic.Uint64
}

type notifiedEntry[V any] struct {
	value   V
	expires time.Time
}

// flight is one running load that later misses of its key may wait for.
type flight[V any] struct {
	start uint64 // the cache's version when it began
	done  chan struct{}
	value V
	err   error
}

// maxCachedEntries bounds memory; past it a cache starts over. The record
// of invalidated keys is bounded the same way (forgetting it is a reset).
const maxCachedEntries = 200_000

func newNotifiedCache[V any](name, channel string, ttl time.Duration, logger *slog.Logger, keyOf func(string) (string, bool)) *notifiedCache[V] {
	if logger == nil {
		logger = slog.Default()
	}
	return &notifiedCache[V]{name: name, channel: channel, ttl: ttl, log: logger, keyOf: keyOf,
		entries: map[string]notifiedEntry[V]{}, invalidated: map[string]uint64{}, flights: map[string]*flight[V]{}}
}

// get returns the copy of key when it is fresh and usable, else loads it
// (or waits for a load of it already running) and, unless an invalidation
// of the key raced with the load, keeps it.
func (c *notifiedCache[V]) get(key string, usable func(V) bool, load func() (V, error)) (V, error) {
	if c.listening.Load() {
		c.mu.RLock()
		e, ok := c.entries[key]
		c.mu.RUnlock()
		if ok && time.Now().Before(e.expires) && (usable == nil || usable(e.value)) {
			c.hits.Add(1)
			return e.value, nil
		}
	}
	if !c.listening.Load() {
		// Nothing is kept or shared while changes may go unannounced.
		c.misses.Add(1)
		return load()
	}
	c.mu.Lock()
	if f, ok := c.flights[key]; ok && c.freshLocked(key, f.start) {
		c.mu.Unlock()
		c.shared.Add(1)
		<-f.done
		if f.err == nil && (usable == nil || usable(f.value)) {
			return f.value, nil
		}
		// The shared load failed (perhaps its request was cancelled):
		// this caller loads for itself.
		c.misses.Add(1)
		return load()
	}
	c.misses.Add(1)
	f := &flight[V]{start: c.version, done: make(chan struct{})}
	c.flights[key] = f
	c.mu.Unlock()

	f.value, f.err = load()
	c.mu.Lock()
	if c.flights[key] == f {
		delete(c.flights, key)
	}
	if f.err == nil && c.listening.Load() && c.freshLocked(key, f.start) {
		if len(c.entries) >= maxCachedEntries {
			c.entries = map[string]notifiedEntry[V]{}
		}
		// Up to a fifth off the ttl, so copies loaded together (a burst of
		// sign-ins, a restart) do not all expire in the same instant.
		c.entries[key] = notifiedEntry[V]{value: f.value, expires: time.Now().Add(c.ttl - rand.N(c.ttl/5+1))}
	}
	c.mu.Unlock()
	close(f.done)
	return f.value, f.err
}

// freshLocked reports whether neither key nor the whole cache was
// invalidated since version start. The caller holds c.mu.
func (c *notifiedCache[V]) freshLocked(key string, start uint64) bool {
	return c.resetAt <= start && c.invalidated[key] <= start
}

// invalidate drops one key's copy.
func (c *notifiedCache[V]) invalidate(key string) {
	c.mu.Lock()
	c.version++
	delete(c.entries, key)
	if len(c.invalidated) >= maxCachedEntries {
		c.resetLocked()
	} else {
		c.invalidated[key] = c.version
	}
	c.mu.Unlock()
}

func (c *notifiedCache[V]) reset() {
	c.mu.Lock()
	c.version++
	c.resetLocked()
	c.mu.Unlock()
}

// resetLocked empties the cache; loads begun before now are not kept.
func (c *notifiedCache[V]) resetLocked() {
	c.resetAt = c.version
	c.entries = map[string]notifiedEntry[V]{}
	c.invalidated = map[string]uint64{}
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
