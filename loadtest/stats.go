package loadtest

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"text/tabwriter"
	"time"
)

// Recorder keeps every request's latency and outcome by route. It is safe
// for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	start  time.Time
	routes map[string]*routeStats
}

type routeStats struct {
	latencies []time.Duration
	// ends holds when each answer came, since the Recorder was made
	// (latencies[i] ended at ends[i]): the run's slowest seconds come out
	// of it.
	ends      []time.Duration
	server5xx int
	errors    int
}

// NewRecorder makes an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{start: time.Now(), routes: map[string]*routeStats{}} }

// Reset forgets everything recorded so far and starts its clock again.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.start = time.Now()
	r.routes = map[string]*routeStats{}
}

// Observe records one answered request: its latency and status.
func (r *Recorder) Observe(route string, d time.Duration, status int) {
	r.observeAt(route, d, status, time.Since(r.start))
}

func (r *Recorder) observeAt(route string, d time.Duration, status int, end time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.route(route)
	s.latencies = append(s.latencies, d)
	s.ends = append(s.ends, end)
	if status >= 500 {
		s.server5xx++
	}
}

// Fail records a request that got no answer (a transport error or a
// timeout), or an answer that was wrong.
func (r *Recorder) Fail(route string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.route(route).errors++
}

func (r *Recorder) route(name string) *routeStats {
	s := r.routes[name]
	if s == nil {
		s = &routeStats{}
		r.routes[name] = s
	}
	return s
}

// RouteSummary is one row of the table.
type RouteSummary struct {
	Route         string
	Count         int
	PerSecond     float64
	P50, P95, P99 time.Duration
	Server5xx     int
	Errors        int
}

// Summary is every route's row over elapsed, sorted by route.
func (r *Recorder) Summary(elapsed time.Duration) []RouteSummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RouteSummary, 0, len(r.routes))
	for name, s := range r.routes {
		sorted := slices.Clone(s.latencies)
		slices.Sort(sorted)
		row := RouteSummary{
			Route: name, Count: len(sorted), Server5xx: s.server5xx, Errors: s.errors,
			P50: Percentile(sorted, 50), P95: Percentile(sorted, 95), P99: Percentile(sorted, 99),
		}
		if elapsed > 0 {
			row.PerSecond = float64(len(sorted)) / elapsed.Seconds()
		}
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Route < out[j].Route })
	return out
}

// SecondSummary is one second of a route: its answers that ended in
// [At, At+1s) since the Recorder was made.
type SecondSummary struct {
	At       time.Duration
	Count    int
	P99, Max time.Duration
}

// SlowestSeconds returns route's n seconds with the highest p99, slowest
// first: whether a run's tail comes from a few bad moments (a pause, a
// periodic task) or is spread over all of it.
func (r *Recorder) SlowestSeconds(route string, n int) []SecondSummary {
	r.mu.Lock()
	s := r.routes[route]
	var bySecond map[time.Duration][]time.Duration
	if s != nil {
		bySecond = make(map[time.Duration][]time.Duration)
		for i, end := range s.ends {
			sec := end.Truncate(time.Second)
			bySecond[sec] = append(bySecond[sec], s.latencies[i])
		}
	}
	r.mu.Unlock()
	out := make([]SecondSummary, 0, len(bySecond))
	for at, ls := range bySecond {
		slices.Sort(ls)
		out = append(out, SecondSummary{At: at, Count: len(ls), P99: Percentile(ls, 99), Max: ls[len(ls)-1]})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].P99 != out[j].P99 {
			return out[i].P99 > out[j].P99
		}
		return out[i].At < out[j].At
	})
	return out[:min(n, len(out))]
}

// Percentile is the nearest-rank p-th percentile of sorted latencies (0
// when there are none): the smallest value with at least p% of the values
// at or below it.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100 + 0.999999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Millis formats a duration as milliseconds with one decimal.
func Millis(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// WriteTable prints the rows as an aligned table.
func WriteTable(w io.Writer, rows []RouteSummary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "route\trequests\treq/s\tp50 ms\tp95 ms\tp99 ms\t5xx\terrors\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\t%s\t%s\t%d\t%d\t\n",
			r.Route, r.Count, r.PerSecond, Millis(r.P50), Millis(r.P95), Millis(r.P99), r.Server5xx, r.Errors)
	}
	return tw.Flush()
}
