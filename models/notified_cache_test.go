package models

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// listeningCache is a cache as it is while its LISTEN connection is up.
func listeningCache(t *testing.T) *notifiedCache[string] {
	t.Helper()
	c := newNotifiedCache[string]("test cache", "test_channel", time.Minute, nil, func(p string) (string, bool) { return p, true })
	c.listening.Store(true)
	return c
}

func TestNotifiedCacheSharesOneLoadAmongConcurrentMisses(t *testing.T) {
	t.Parallel()
	c := listeningCache(t)
	release := make(chan struct{})
	started := make(chan struct{})
	var loads atomic.Int32
	load := func() (string, error) {
		if loads.Add(1) == 1 {
			close(started)
		}
		<-release
		return "v1", nil
	}
	var wg sync.WaitGroup
	got := make([]string, 50)
	errs := make([]error, 50)
	wg.Go(func() { got[0], errs[0] = c.get("app", nil, load) })
	<-started
	for i := 1; i < len(got); i++ {
		wg.Go(func() { got[i], errs[i] = c.get("app", nil, load) })
	}
	// The load is released once every other caller waits for it.
	deadline := time.Now().Add(10 * time.Second)
	for c.shared.Load() < uint64(len(got)-1) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d callers joined the running load", c.shared.Load(), len(got)-1)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i] != "v1" {
			t.Fatalf("caller %d got %q, %v", i, got[i], errs[i])
		}
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads for 50 concurrent misses of one key, want 1", n)
	}
	if m, s := c.misses.Load(), c.shared.Load(); m != 1 || s != 49 {
		t.Fatalf("misses %d, shared %d; want 1 query counted and 49 shared", m, s)
	}
	if v, err := c.get("app", nil, func() (string, error) { return "", errors.New("must not load") }); err != nil || v != "v1" {
		t.Fatalf("the shared load was not kept: %q, %v", v, err)
	}
}

func TestNotifiedCacheKeepsALoadThatRacedOnlyWithOtherKeys(t *testing.T) {
	t.Parallel()
	c := listeningCache(t)
	v, err := c.get("app", nil, func() (string, error) {
		c.invalidate("another app") // a notification about someone else
		return "v1", nil
	})
	if err != nil || v != "v1" {
		t.Fatal(v, err)
	}
	if _, ok := c.entries["app"]; !ok {
		t.Fatal("an invalidation of another key threw the load away")
	}
}

func TestNotifiedCacheDropsALoadThatRacedWithItsKey(t *testing.T) {
	t.Parallel()
	for name, drop := range map[string]func(c *notifiedCache[string]){
		"invalidate": func(c *notifiedCache[string]) { c.invalidate("app") },
		"reset":      func(c *notifiedCache[string]) { c.reset() },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := listeningCache(t)
			inLoad := make(chan struct{})
			release := make(chan struct{})
			first := make(chan string, 1)
			go func() {
				v, _ := c.get("app", nil, func() (string, error) {
					close(inLoad)
					<-release
					return "stale", nil
				})
				first <- v
			}()
			<-inLoad
			drop(c) // the row changed after the stale load read it
			// A caller after the change must not share the stale load.
			v, err := c.get("app", nil, func() (string, error) { return "fresh", nil })
			if err != nil || v != "fresh" {
				t.Fatalf("a miss after the invalidation got %q, %v", v, err)
			}
			close(release)
			if v := <-first; v != "stale" {
				t.Fatalf("the first caller got %q", v)
			}
			if v, err := c.get("app", nil, func() (string, error) { return "reloaded", nil }); err != nil || v == "stale" {
				t.Fatalf("the stale load was kept: %q, %v", v, err)
			}
		})
	}
}
