package sites

import (
	"container/list"
	"strings"
	"sync"
)

// fileCache is the hot-file cache: a least-recently-used cache bounded by
// the bytes it holds. Its keys are content-addressed (a blob and encoding,
// or a path within a bundle), so an entry can never go stale: a new deploy
// is a new bundle, and what a deployment serves is looked up separately
// (models.SiteCache), invalidated across replicas.
type fileCache struct {
	mu       sync.Mutex
	max      int64
	used     int64
	order    *list.List // front = most recently used
	entries  map[cacheKey]*list.Element
	hits     uint64
	misses   uint64
	evicted  uint64
	maxEntry int64
}

// cacheKey names what the cache holds: a bundle's file record (kind 'f':
// the bundle and the path) or one encoding of a blob ('b': the blob and
// the encoding). A struct, not a string made of the three, so that a
// lookup allocates nothing.
type cacheKey struct {
	kind byte
	a, b string
}

type cacheEntry struct {
	key   cacheKey
	value any
	cost  int64
}

// entryOverhead approximates what an entry costs besides its value: the
// map slot, the list element and the key's header.
const entryOverhead = 160

func newFileCache(maxBytes int64) *fileCache {
	return &fileCache{
		max: maxBytes, order: list.New(), entries: map[cacheKey]*list.Element{},
		// One file may take at most a sixteenth of the cache, so a few
		// large files cannot push out every small hot one.
		maxEntry: maxBytes / 16,
	}
}

// get returns the value of key, marking it recently used.
func (c *fileCache) get(key cacheKey) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		c.misses++
		return nil, false
	}
	c.hits++
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).value, true
}

// fits reports whether a value of size bytes may be cached at all.
func (c *fileCache) fits(size int64) bool { return size+entryOverhead <= c.maxEntry }

// put keeps value under key at the given cost in bytes, evicting the least
// recently used entries to stay within the bound.
func (c *fileCache) put(key cacheKey, value any, size int64) {
	cost := size + int64(len(key.a)+len(key.b)) + entryOverhead
	if cost > c.maxEntry {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		return
	}
	// The key's strings may be part of a request's; kept, they would keep
	// it.
	key.a, key.b = strings.Clone(key.a), strings.Clone(key.b)
	for c.used+cost > c.max && c.order.Len() > 0 {
		oldest := c.order.Back()
		e := oldest.Value.(*cacheEntry)
		c.order.Remove(oldest)
		delete(c.entries, e.key)
		c.used -= e.cost
		c.evicted++
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, value: value, cost: cost})
	c.used += cost
}

// CacheStats is what the hot-file cache holds and how it has done.
type CacheStats struct {
	Bytes, MaxBytes       int64
	Entries               int
	Hits, Misses, Evicted uint64
}

func (c *fileCache) stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Bytes: c.used, MaxBytes: c.max, Entries: len(c.entries), Hits: c.hits, Misses: c.misses, Evicted: c.evicted}
}
