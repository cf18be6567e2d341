package sites

import (
	"fmt"
	"testing"
)

func TestFileCacheStaysWithinItsBytesAndEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := newFileCache(64 << 10) // entries up to 4 KiB
	key := func(name string) cacheKey { return cacheKey{kind: 'b', a: name} }
	c.put(key("too big"), make([]byte, 8<<10), 8<<10)
	if _, ok := c.get(key("too big")); ok {
		t.Fatal("an entry over a sixteenth of the cache was kept")
	}
	for i := range 100 {
		c.put(key(fmt.Sprint("k", i)), make([]byte, 1<<10), 1<<10)
		if i > 0 {
			c.get(key("k0")) // k0 stays the most recently used
		}
		if s := c.stats(); s.Bytes > s.MaxBytes {
			t.Fatalf("after %d puts the cache holds %d bytes, over its %d", i+1, s.Bytes, s.MaxBytes)
		}
	}
	if _, ok := c.get(key("k0")); !ok {
		t.Error("the most recently used entry was evicted")
	}
	if _, ok := c.get(key("k1")); ok {
		t.Error("the least recently used entry was kept")
	}
	if _, ok := c.get(key("k99")); !ok {
		t.Error("the newest entry was evicted")
	}
	if s := c.stats(); s.Evicted == 0 || s.Entries >= 100 {
		t.Errorf("stats %+v: want evictions and fewer than 100 entries", s)
	}
}
