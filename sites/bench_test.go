package sites_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chefdeploy/config"
	"chefdeploy/sites"
)

// viteBuild is a realistic Vite build of about 5 MB in 100 files: a 2 KB
// index.html, one 200 KB entry chunk, other JS and CSS chunks, images and
// fonts (incompressible), all fingerprinted under assets/.
func viteBuild() map[string]string {
	rng := mrand.New(mrand.NewPCG(1, 2))
	words := []string{"const", "let", "function", "return", "if", "else", "this", "props", "state", "useEffect", "=>", "{", "}", "(", ")", ";", "null", "undefined", "await", "async", "import", "export", "default", "React", "createElement", "div", "className", "onClick", "value", "map", "filter", "length"}
	js := func(size int) string {
		var b strings.Builder
		for b.Len() < size {
			b.WriteString(words[rng.IntN(len(words))])
			if rng.IntN(4) == 0 {
				fmt.Fprintf(&b, "_%x", rng.Uint32())
			}
			b.WriteByte(' ')
		}
		return b.String()[:size]
	}
	random := func(size int) string {
		b := make([]byte, size)
		_, _ = rand.Read(b)
		return string(b)
	}
	files := map[string]string{}
	head := `<!doctype html><html lang="en"><head><meta charset="UTF-8"><link rel="icon" href="/favicon.svg"><meta name="viewport" content="width=device-width, initial-scale=1.0"><title>Chef app</title><script type="module" crossorigin src="/assets/index-B5Qt9EMX.js"></script><link rel="stylesheet" href="/assets/index-D8s7a9Qf.css"></head><body><div id="root"></div>`
	files["index.html"] = head + strings.Repeat("<!-- preload -->", (2048-len(head)-14)/16) + "</body></html>"
	files["assets/index-B5Qt9EMX.js"] = js(200 << 10)
	files["assets/index-D8s7a9Qf.css"] = js(40 << 10)
	files["favicon.svg"] = `<svg xmlns="http://www.w3.org/2000/svg"><circle r="8"/></svg>`
	for i := range 37 {
		files[fmt.Sprintf("assets/chunk%d-%08x.js", i, rng.Uint32())] = js(10<<10 + rng.IntN(40<<10))
	}
	for i := range 10 {
		files[fmt.Sprintf("assets/style%d-%08x.css", i, rng.Uint32())] = js(5<<10 + rng.IntN(10<<10))
	}
	for i := range 44 {
		files[fmt.Sprintf("assets/image%d-%08x.png", i, rng.Uint32())] = "\x89PNG\r\n\x1a\n" + random(40<<10+rng.IntN(60<<10))
	}
	for i := range 6 {
		files[fmt.Sprintf("assets/font%d-%08x.woff2", i, rng.Uint32())] = random(30<<10 + rng.IntN(20<<10))
	}
	return files
}

// BenchmarkSites serves a 100-file, 5 MB site to 200 concurrent clients,
// from chefdeploy's sites handler and from Go's http.FileServer on the same
// files from disk, in the same run, and prints requests/s and p99 of each:
// from clients in this process (as fast as answered, then paced), and from
// wrk, outside it, when wrk is on PATH (make bench installs it).
func BenchmarkSites(b *testing.B) {
	// The figures go to standard output: a benchmark's log is cut after
	// ten lines.
	logf := func(format string, args ...any) { fmt.Printf("    "+format+"\n", args...) }
	site := viteBuild()
	var total int
	for _, c := range site {
		total += len(c)
	}
	f := setup(b, config.SitesLayout{}, 0+64<<20)
	a := f.connectedApp(b, "bench-site-1")
	start := time.Now()
	f.deploy(b, a, site)
	unpack := time.Since(start)

	dir := b.TempDir()
	for name, content := range site {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	// Both behind the sites listener's own server, on loopback ports.
	oursBase := serve(b, f.h)
	fsBase := serve(b, http.FileServer(http.Dir(dir)))

	ours := oursBase + "/bench-site-1"
	etag := f.get(b, "GET", "/bench-site-1/assets/index-B5Qt9EMX.js").header.Get("ETag")
	lastModified := headOf(b, fsBase+"/assets/index-B5Qt9EMX.js").Get("Last-Modified")
	scenarios := []scenario{
		{name: "2 KB HTML", oursURL: ours + "/", fsURL: fsBase + "/", wantOurs: 200, wantFS: 200},
		{name: "200 KB JS, gzip", oursURL: ours + "/assets/index-B5Qt9EMX.js", fsURL: fsBase + "/assets/index-B5Qt9EMX.js",
			oursHdr: []string{"Accept-Encoding", "gzip"}, fsHdr: []string{"Accept-Encoding", "gzip"}, wantOurs: 200, wantFS: 200,
			note: "FileServer cannot compress: it sends the 200 KB as is"},
		{name: "304 revalidation", oursURL: ours + "/assets/index-B5Qt9EMX.js", fsURL: fsBase + "/assets/index-B5Qt9EMX.js",
			oursHdr: []string{"If-None-Match", etag}, fsHdr: []string{"If-Modified-Since", lastModified}, wantOurs: 304, wantFS: 304,
			note: "FileServer: If-Modified-Since (it sends no ETag)"},
		{name: "404", oursURL: ours + "/assets/missing-12345678.js", fsURL: fsBase + "/assets/missing-12345678.js", wantOurs: 404, wantFS: 404},
	}
	const clients, perClient = 200, 100
	closed := visit{clients: clients, perClient: perClient}
	pacedVisit := visit{clients: clients, perClient: pacedRequests, every: pacedEvery}
	logf("site: %d files, %.1f MB; unpacked and compressed at deploy in %v", len(site), float64(total)/(1<<20), unpack.Round(time.Millisecond))
	logf("servers: sites.NewServer on 127.0.0.1, one with the sites handler (ours), one with http.FileServer over the same files on disk; %d CPUs", runtime.GOMAXPROCS(0))
	logf("each client has its own keep-alive connection, opened by one unmeasured request before the clock starts")
	for range b.N {
		logf("in this process, closed loop: %d clients x %d requests each, as fast as answered; median of 3 alternating rounds", clients, perClient)
		logf("  %-18s %12s %10s %12s %10s %7s", "request", "ours req/s", "ours p99", "FileServer", "FS p99", "ratio")
		for _, s := range scenarios {
			// Warm both (our cache; the OS page cache), then measure.
			drive(b, visit{clients: 20, perClient: 10}, s.oursURL, s.oursHdr, s.wantOurs)
			drive(b, visit{clients: 20, perClient: 10}, s.fsURL, s.fsHdr, s.wantFS)
			// Three alternating rounds, the median of each: the machine is
			// shared, and a burst of other work should not decide a ratio.
			var ours, theirs []loadResult
			for range 3 {
				ours = append(ours, drive(b, closed, s.oursURL, s.oursHdr, s.wantOurs))
				theirs = append(theirs, drive(b, closed, s.fsURL, s.fsHdr, s.wantFS))
			}
			o, fs := median(ours), median(theirs)
			logf("  %-18s %12.0f %10s %12.0f %10s %6.2fx  %s", s.name, o.rps, ms(o.p99), fs.rps, ms(fs.p99), o.rps/fs.rps, s.note)
			b.ReportMetric(o.rps/fs.rps, s.metric("_ratio"))
		}
		// The same clients paced: each sends every pacedEvery, so the
		// offered load is steady and well below what 2 CPUs serve. Closed
		// loops at full speed measure the queue 200 clients build (mean
		// latency = clients / throughput); this measures the answer time.
		logf("in this process, paced: %d clients, each one request every %v (%.0f req/s offered), %d requests each; GC: cycles during the run (longest stop-the-world pause)",
			clients, pacedEvery, float64(clients)/pacedEvery.Seconds(), pacedRequests)
		logf("  %-18s %9s %9s %9s %9s %14s %14s", "request", "ours p50", "ours p99", "FS p50", "FS p99", "ours GC", "FS GC")
		for _, s := range scenarios {
			o := drive(b, pacedVisit, s.oursURL, s.oursHdr, s.wantOurs)
			fs := drive(b, pacedVisit, s.fsURL, s.fsHdr, s.wantFS)
			logf("  %-18s %9s %9s %9s %9s %14s %14s", s.name, ms(o.p50), ms(o.p99), ms(fs.p50), ms(fs.p99), o.gc, fs.gc)
			b.ReportMetric(float64(o.p99.Microseconds())/1000, s.metric("_paced_p99_ms"))
		}
		// Cold, as this benchmark measured before: each client's first
		// measured request dials its connection, and 200 of the 20,000
		// samples are the slowest 1%, when dialing is the slowest.
		cold := pacedVisit
		cold.cold = true
		s := scenarios[0]
		o := drive(b, cold, s.oursURL, s.oursHdr, s.wantOurs)
		fs := drive(b, cold, s.fsURL, s.fsHdr, s.wantFS)
		logf("  %-18s %9s %9s %9s %9s %14s %14s", s.name+", cold", ms(o.p50), ms(o.p99), ms(fs.p50), ms(fs.p99), o.gc, fs.gc)
		logf("  cold: no unmeasured first request; of the slowest 1%% (%d), %d (ours) and %d (FileServer) are a client's first, which dialed",
			clients*pacedRequests/100, o.firstInTop, fs.firstInTop)

		external(b, logf, scenarios)
	}
	// The handlers alone, without the network or the 200 clients: what one
	// request costs each server, single-threaded.
	logf("handler alone (httptest.NewRecorder, one goroutine), per request:")
	fsHandler := http.FileServer(http.Dir(dir))
	for _, s := range scenarios {
		oursPath := strings.TrimPrefix(s.oursURL, oursBase)
		fsPath := strings.TrimPrefix(s.fsURL, fsBase)
		o := handlerCost(b, f.h, oursPath, s.oursHdr, s.wantOurs)
		fs := handlerCost(b, fsHandler, fsPath, s.fsHdr, s.wantFS)
		logf("  %-18s ours %8v   FileServer %8v   %5.2fx as fast", s.name, o, fs, float64(fs)/float64(o))
	}
	st := f.h.CacheStats()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	logf("hot-file cache: %d entries, %.2f MB of %.0f MB (hits %d, misses %d); process heap in use %.1f MB",
		st.Entries, float64(st.Bytes)/(1<<20), float64(st.MaxBytes)/(1<<20), st.Hits, st.Misses, float64(mem.HeapInuse)/(1<<20))
}

// scenario is one request, as sent to each server, and the status each
// must answer.
type scenario struct {
	name             string
	oursURL, fsURL   string
	oursHdr, fsHdr   []string
	wantOurs, wantFS int
	note             string
}

// metric names a reported metric of s, "2_KB_HTML" + suffix.
func (s scenario) metric(suffix string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s.name, " ", "_"), ",", "") + suffix
}

// serve runs h behind the sites listener's own server on a loopback port
// until the benchmark ends, and returns its base URL.
func serve(b *testing.B, h http.Handler) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := sites.NewServer(h, slog.Default())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	b.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			b.Error(err)
		}
	})
	return "http://" + l.Addr().String()
}

// median is the round with the median throughput, and the median p99.
func median(rs []loadResult) loadResult {
	byRPS := slices.Clone(rs)
	slices.SortFunc(byRPS, func(a, b loadResult) int { return cmpFloat(a.rps, b.rps) })
	p99s := make([]time.Duration, len(rs))
	for i, r := range rs {
		p99s[i] = r.p99
	}
	slices.Sort(p99s)
	return loadResult{rps: byRPS[len(rs)/2].rps, p99: p99s[len(rs)/2]}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type loadResult struct {
	rps      float64
	p50, p99 time.Duration
	// firstInTop is how many of the slowest 1% were a client's first
	// request; gc the collections while the clock ran.
	firstInTop int
	gc         gcCycles
}

// gcCycles are the garbage collections of this process in a span of time:
// how many, and the longest stop-the-world pause of one (its two pauses).
type gcCycles struct {
	n       uint32
	longest time.Duration
}

// ms is d in milliseconds, as the tables print it.
func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func (g gcCycles) String() string {
	return fmt.Sprintf("%d (%.1fms)", g.n, float64(g.longest)/float64(time.Millisecond))
}

// gcSince is the collections since before was read.
func gcSince(before *runtime.MemStats) gcCycles {
	var now runtime.MemStats
	runtime.ReadMemStats(&now)
	g := gcCycles{n: now.NumGC - before.NumGC}
	for i := before.NumGC + 1; i <= now.NumGC && now.NumGC-i < uint32(len(now.PauseNs)); i++ {
		g.longest = max(g.longest, time.Duration(now.PauseNs[(i+255)%256]))
	}
	return g
}

// The paced run: 200 clients at one request each 40 ms is 5,000 req/s.
const (
	pacedEvery    = 40 * time.Millisecond
	pacedRequests = 100
)

// visit is how clients load a server: each sends perClient requests, the
// next as soon as the last is answered (every 0) or one every interval,
// starting at a random offset: a steady offered rate of clients/every, as
// visitors arrive, at which latency is the server's and not a queue the
// clients made.
type visit struct {
	clients, perClient int
	every              time.Duration
	// cold leaves out the warm-up: each client's first measured request
	// dials its connection.
	cold bool
}

// drive loads url as v says and measures throughput and latency. Each
// client is a browser with one keep-alive connection, opened by an
// unmeasured first request unless v.cold.
func drive(b *testing.B, v visit, url string, headers []string, want int) loadResult {
	b.Helper()
	clients := make([]*http.Client, v.clients)
	for i := range clients {
		// The transport would ask for gzip itself and decode it: the
		// benchmark's Accept-Encoding is its own to choose.
		clients[i] = &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}}
	}
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	get := func(c *http.Client) error {
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			return err
		}
		for k := 0; k+1 < len(headers); k += 2 {
			req.Header.Set(headers[k], headers[k+1])
		}
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err == nil && res.StatusCode != want {
			err = fmt.Errorf("%s = %d, want %d", url, res.StatusCode, want)
		}
		return err
	}
	var failed atomic.Value
	var wg sync.WaitGroup
	if !v.cold {
		// A visitor's browser keeps its connection: dialing is not what
		// a hot file's answer costs. (200 dials at once were the slowest
		// 1% of 20,000 requests, that is the p99.)
		for _, c := range clients {
			wg.Go(func() {
				if err := get(c); err != nil {
					failed.Store(err)
				}
			})
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
	}
	type sample struct {
		latency time.Duration
		first   bool
	}
	samples := make([][]sample, v.clients)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for i, c := range clients {
		wg.Go(func() {
			own := make([]sample, 0, v.perClient)
			next := start
			if v.every > 0 {
				next = start.Add(mrand.N(v.every))
			}
			for k := range v.perClient {
				if v.every > 0 {
					time.Sleep(time.Until(next)) // pacing the offered load, not waiting for an event
					next = next.Add(v.every)
				}
				t0 := time.Now()
				if err := get(c); err != nil {
					failed.Store(err)
					return
				}
				own = append(own, sample{time.Since(t0), k == 0})
			}
			samples[i] = own
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	gc := gcSince(&before)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(samples...)
	slices.SortFunc(all, func(a, b sample) int { return int(a.latency - b.latency) })
	r := loadResult{rps: float64(len(all)) / elapsed.Seconds(), p50: all[len(all)/2].latency, p99: all[len(all)*99/100].latency, gc: gc}
	for _, s := range all[len(all)*99/100:] {
		if s.first {
			r.firstInTop++
		}
	}
	return r
}

// wrkDuration is how long wrk loads each server with each request.
const wrkDuration = 5 * time.Second

// wrkPaced is wrk's script for the paced run: each connection waits a
// random 0-80 ms (40 ms on average, as the in-process clients) before each
// request, its first included, so the 200 connections send about 5,000
// requests/s, spread out, not in bursts. wrk's clock for a request starts
// when it is sent, after the wait.
const wrkPaced = `
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  math.randomseed(id)
end
function delay()
  return math.random(0, 80)
end
`

// external loads both servers with wrk, from outside this process, which
// then runs nothing but the servers: 200 connections over 2 threads, for
// wrkDuration each, first as fast as answered (a closed loop), then paced.
// Without wrk on PATH it says so and returns.
func external(b *testing.B, logf func(string, ...any), scenarios []scenario) {
	b.Helper()
	if _, err := exec.LookPath("wrk"); err != nil {
		logf("wrk is not on PATH: skipped the run from outside this process (make bench installs it: scripts/wrk.sh)")
		return
	}
	paced := filepath.Join(b.TempDir(), "paced.lua")
	if err := os.WriteFile(paced, []byte(wrkPaced), 0o644); err != nil {
		b.Fatal(err)
	}
	run := func(s scenario, script string) (o, fs loadResult, err error) {
		if o, err = runWrk(s.oursURL, s.oursHdr, s.wantOurs, script); err == nil {
			fs, err = runWrk(s.fsURL, s.fsHdr, s.wantFS, script)
		}
		return o, fs, err
	}
	logf("wrk, outside this process: 200 connections, 2 threads, %v per server and request, --latency; GC: this process's, so the servers' alone", wrkDuration)
	logf("wrk closed loop: each connection sends its next request as soon as the last is answered")
	logf("  %-18s %12s %9s %12s %9s %7s %14s %14s", "request", "ours req/s", "ours p99", "FileServer", "FS p99", "ratio", "ours GC", "FS GC")
	for _, s := range scenarios {
		o, fs, err := run(s, "")
		if err != nil {
			logf("  %-18s %v", s.name, err)
			continue
		}
		logf("  %-18s %12.0f %9s %12.0f %9s %6.2fx %14s %14s", s.name, o.rps, ms(o.p99), fs.rps, ms(fs.p99), o.rps/fs.rps, o.gc, fs.gc)
		b.ReportMetric(o.rps/fs.rps, s.metric("_wrk_ratio"))
	}
	logf("wrk paced: each connection waits a random 0-80 ms before each request (about 5,000 req/s offered)")
	logf("  %-18s %9s %9s %9s %9s %9s %14s %14s", "request", "ours p50", "ours p99", "FS p50", "FS p99", "ours r/s", "ours GC", "FS GC")
	for _, s := range scenarios {
		o, fs, err := run(s, paced)
		if err != nil {
			logf("  %-18s %v", s.name, err)
			continue
		}
		logf("  %-18s %9s %9s %9s %9s %9.0f %14s %14s", s.name, ms(o.p50), ms(o.p99), ms(fs.p50), ms(fs.p99), o.rps, o.gc, fs.gc)
		b.ReportMetric(float64(o.p99.Microseconds())/1000, s.metric("_wrk_paced_p99_ms"))
	}
}

// runWrk runs wrk against url with headers (and a script, if not "") and
// reads its requests/s, p50 and p99; every answer must have been want's
// class (wrk counts those neither 2xx nor 3xx).
func runWrk(url string, headers []string, want int, script string) (loadResult, error) {
	args := []string{"-t2", "-c200", "-d" + wrkDuration.String(), "--latency"}
	if script != "" {
		args = append(args, "-s", script)
	}
	for k := 0; k+1 < len(headers); k += 2 {
		args = append(args, "-H", headers[k]+": "+headers[k+1])
	}
	args = append(args, url)
	ctx, cancel := context.WithTimeout(context.Background(), wrkDuration+30*time.Second)
	defer cancel()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	out, err := exec.CommandContext(ctx, "wrk", args...).CombinedOutput()
	gc := gcSince(&before)
	if err != nil {
		return loadResult{}, fmt.Errorf("wrk %s: %v: %s", strings.Join(args, " "), err, out)
	}
	r, err := parseWrk(out, want)
	if err != nil {
		return loadResult{}, fmt.Errorf("wrk %s: %v:\n%s", strings.Join(args, " "), err, out)
	}
	r.gc = gc
	return r, nil
}

// parseWrk reads wrk --latency's report.
func parseWrk(out []byte, want int) (loadResult, error) {
	var r loadResult
	requests, notOK := int64(-1), int64(0)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		var err error
		switch {
		case len(f) == 2 && f[0] == "50%":
			r.p50, err = time.ParseDuration(f[1])
		case len(f) == 2 && f[0] == "99%":
			r.p99, err = time.ParseDuration(f[1])
		case len(f) == 2 && f[0] == "Requests/sec:":
			r.rps, err = strconv.ParseFloat(f[1], 64)
		case len(f) > 2 && f[1] == "requests" && f[2] == "in":
			requests, err = strconv.ParseInt(f[0], 10, 64)
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			notOK, err = strconv.ParseInt(f[len(f)-1], 10, 64)
		case strings.HasPrefix(line, "Socket errors:"):
			// Timed-out requests are left out of wrk's latencies.
			return r, errors.New(line)
		}
		if err != nil {
			return r, fmt.Errorf("reading %q: %v", line, err)
		}
	}
	switch {
	case requests <= 0 || r.rps == 0 || r.p99 == 0:
		return r, errors.New("no requests/s or p99 in the report")
	case want < 400 && notOK != 0, want >= 400 && notOK != requests:
		return r, fmt.Errorf("%d of %d answers were not 2xx or 3xx; want all %d", notOK, requests, want)
	}
	return r, nil
}

func headOf(b *testing.B, url string) http.Header {
	b.Helper()
	res, err := http.Head(url)
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	return res.Header
}

// handlerCost is the time h takes to answer one request for path: the
// mean over a second's worth of requests, after a warm-up. (testing.Benchmark
// cannot run inside a benchmark: it waits for the running one to end.)
func handlerCost(b *testing.B, h http.Handler, path string, headers []string, want int) time.Duration {
	b.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for k := 0; k+1 < len(headers); k += 2 {
		req.Header.Set(headers[k], headers[k+1])
	}
	serve := func(n int) {
		for range n {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != want {
				b.Fatalf("%s = %d, want %d", path, rec.Code, want)
			}
		}
	}
	serve(100)
	n := 0
	start := time.Now()
	for time.Since(start) < time.Second {
		serve(100)
		n += 100
	}
	return time.Since(start) / time.Duration(n)
}

// TestParseWrk reads wrk's reports as BenchmarkSites gets them (CI does not
// run the benchmark, nor has wrk).
func TestParseWrk(t *testing.T) {
	t.Parallel()
	const report = `Running 5s test @ http://127.0.0.1:40123/bench-site-1/assets/missing-12345678.js
  2 threads and 200 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.63ms    2.94ms  41.57ms   86.99%
    Req/Sec    17.88k     1.47k   21.18k    80.00%
  Latency Distribution
     50%    5.36ms
     75%    6.70ms
     90%    8.11ms
     99%   12.17ms
  178058 requests in 5.01s, 124.82MB read
  Non-2xx or 3xx responses: 178058
Requests/sec:  35541.39
Transfer/sec:     24.91MB
`
	r, err := parseWrk([]byte(report), 404)
	if err != nil || r.rps != 35541.39 || r.p50 != 5360*time.Microsecond || r.p99 != 12170*time.Microsecond {
		t.Errorf("parseWrk = %+v, %v; want 35541.39 req/s, p50 5.36ms, p99 12.17ms", r, err)
	}
	if _, err := parseWrk([]byte(report), 200); err == nil {
		t.Error("404s read as 200s")
	}
	ok := strings.Replace(strings.Replace(report, "  Non-2xx or 3xx responses: 178058\n", "", 1), "99%   12.17ms", "99%  740.00us", 1)
	if r, err := parseWrk([]byte(ok), 304); err != nil || r.p99 != 740*time.Microsecond {
		t.Errorf("parseWrk = %+v, %v; want p99 740µs", r, err)
	}
	if _, err := parseWrk([]byte(ok), 404); err == nil {
		t.Error("answers not counted as errors read as 404s")
	}
	timeouts := strings.Replace(ok, "Requests/sec:", "  Socket errors: connect 0, read 0, write 0, timeout 12\nRequests/sec:", 1)
	if _, err := parseWrk([]byte(timeouts), 200); err == nil || !strings.Contains(err.Error(), "timeout 12") {
		t.Errorf("a report with timeouts: %v, want an error", err)
	}
}
