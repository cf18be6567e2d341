package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"chefdeploy/loadtest"
)

// sampler reads each replica's /metrics and the database's connection
// count every second, keeping the peaks.
type sampler struct {
	p           *product
	mu          sync.Mutex
	peakRSS     map[string]float64 // bytes, by replica
	lastRSS     map[string]float64 // the latest scrape's, by replica
	atPeak      map[string]memory  // what the Go runtime held when RSS peaked
	started     time.Time          // when the pollers started
	peakPool    map[string]float64 // the replica's open pool connections
	peakBackend int                // pg_stat_activity rows on the database
	scrapeErrs  int
	// counters are the caches' hit and miss counters, by replica and
	// series: the first and the last value seen.
	counters map[string][2]float64
}

func newSampler(p *product) *sampler {
	return &sampler{p: p, started: time.Now(), peakRSS: map[string]float64{}, lastRSS: map[string]float64{}, atPeak: map[string]memory{}, peakPool: map[string]float64{}, counters: map[string][2]float64{}}
}

func (s *sampler) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *sampler) sample(ctx context.Context) {
	for _, base := range s.p.metricsBases {
		m, err := loadtest.ScrapeMetrics(ctx, base, s.p.metricsToken)
		s.mu.Lock()
		if err != nil {
			if ctx.Err() == nil {
				s.scrapeErrs++
			}
			s.mu.Unlock()
			continue
		}
		s.lastRSS[base] = m["process_resident_memory_bytes"]
		if rss := m["process_resident_memory_bytes"]; rss > s.peakRSS[base] {
			s.peakRSS[base] = rss
			s.atPeak[base] = memoryOf(m, time.Since(s.started))
		}
		for name, v := range m {
			if strings.HasPrefix(name, "go_sql_open_connections") {
				s.peakPool[base] = max(s.peakPool[base], v)
			}
			if strings.HasPrefix(name, "chefdeploy_cache_") {
				c, seen := s.counters[base+" "+name]
				if !seen {
					c[0] = v
				}
				c[1] = v
				s.counters[base+" "+name] = c
			}
		}
		s.mu.Unlock()
	}
	if s.p.db != nil {
		var n int
		if err := s.p.db.GetContext(ctx, &n, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, s.p.dbName); err == nil {
			s.mu.Lock()
			s.peakBackend = max(s.peakBackend, n)
			s.mu.Unlock()
		}
	}
}

func (s *sampler) peakRSSMB() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	peak := 0.0
	for _, v := range s.peakRSS {
		peak = max(peak, v)
	}
	return peak / (1 << 20)
}

func (s *sampler) report(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, base := range s.p.metricsBases {
		fmt.Fprintf(w, "%s: peak RSS %.0f MB (%.0f MB at the end), peak open pool connections %.0f (go_sql_open_connections)\n", base, s.peakRSS[base]/(1<<20), s.lastRSS[base]/(1<<20), s.peakPool[base])
		fmt.Fprintf(w, "  at the peak: %s\n", s.atPeak[base])
	}
	if s.p.db != nil {
		fmt.Fprintf(w, "peak PostgreSQL connections on %s (pg_stat_activity, every replica and listener): %d\n", s.p.dbName, s.peakBackend)
	}
	// Summed over the replicas: each miss is one query.
	sums := map[string]float64{}
	for key, c := range s.counters {
		_, series, _ := strings.Cut(key, " ")
		sums[series] += c[1] - c[0]
	}
	for _, cache := range []string{"session", "status"} {
		hits := sums[`chefdeploy_cache_hits_total{cache="`+cache+`"}`]
		misses := sums[`chefdeploy_cache_misses_total{cache="`+cache+`"}`]
		if hits+misses > 0 {
			fmt.Fprintf(w, "%s cache over the run: %.0f hits, %.0f misses (%.2f%% misses)\n", cache, hits, misses, 100*misses/(hits+misses))
		}
	}
	if s.scrapeErrs > 0 {
		fmt.Fprintf(w, "metrics scrapes that failed: %d\n", s.scrapeErrs)
	}
}

func openDB(raw string) (*sqlx.DB, error) {
	db, err := sqlx.Open("postgres", raw)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	return db, nil
}

func dbNameOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// memory is what the Go runtime reported holding at one scrape, in bytes.
type memory struct {
	heapInUse, heapFree, stacks, nextGC, goroutines float64
	at                                              time.Duration // since the pollers started
}

func memoryOf(m map[string]float64, at time.Duration) memory {
	return memory{
		at:        at,
		heapInUse: m["go_memstats_heap_inuse_bytes"],
		// Freed by the GC but not yet returned to the OS: still in RSS.
		heapFree:   m["go_memstats_heap_idle_bytes"] - m["go_memstats_heap_released_bytes"],
		stacks:     m["go_memstats_stack_inuse_bytes"],
		nextGC:     m["go_memstats_next_gc_bytes"],
		goroutines: m["go_goroutines"],
	}
}

func (m memory) String() string {
	const mb = 1 << 20
	return fmt.Sprintf("%v after the pollers started: heap in use %.0f MB, heap freed but kept %.0f MB, goroutine stacks %.0f MB (%.0f goroutines), next GC at %.0f MB",
		m.at.Round(time.Second), m.heapInUse/mb, m.heapFree/mb, m.stacks/mb, m.goroutines, m.nextGC/mb)
}
