// Command load drives chefdeploy over HTTP the way thousands of browsers do
// and prints, per route, requests/s, p50/p95/p99, 5xx and errors, then the
// product's peak RSS, its open database connections and the database
// transactions per status poll. By default it starts the product itself (one
// replica, or three behind HAProxy with -replicas 3) on a throwaway database;
// -target drives a product already running with its built-in sandbox.
// It only talks to loopback addresses and stops by itself.
//
// The last line is machine-readable:
//
//	load: pollers=N poll_p99_ms=X connect_p50_ms=Y rss_mb=Z errors=E
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"chefdeploy/loadtest"
	"chefdeploy/sandbox"
)

// memoryLimitSyntax is what the Go runtime accepts in GOMEMLIMIT (besides
// "off"); a replica given anything else dies at start.
var memoryLimitSyntax = regexp.MustCompile(`^[0-9]+(B|KiB|MiB|GiB|TiB)?$`)

type settings struct {
	target        string
	metricsToken  string
	databaseURL   string
	replicas      int
	haproxyConfig string
	pollers       int
	sessions      int
	apps          int
	connectRate   float64
	inFlight      int
	deploys       int
	siteBytes     int
	warmup        time.Duration
	duration      time.Duration
	pollEvery     time.Duration
	workDir       string
	profile       bool
	productEnv    string
	keyStock      int
	memoryLimit   string
	netHTTP       bool
	binary        string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The load tool's 5,000 browsers hold a large heap of connections and
	// buffers; at the default GOGC its collector drafted the goroutine
	// timing a request into marking often enough (10% of its CPU in GC
	// assists) to add tens of milliseconds to what it measured. Memory is
	// cheap here: collect less often, unless GOGC says otherwise.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(800)
	}
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func parse(args []string) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.StringVar(&s.target, "target", "", "drive a product already running at this loopback URL (with its built-in sandbox) instead of starting one")
	fs.StringVar(&s.metricsToken, "metrics-token", os.Getenv("METRICS_TOKEN"), "with -target: the product's METRICS_TOKEN")
	fs.StringVar(&s.databaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL: where the throwaway database is created (or, with -target, the product's own)")
	fs.IntVar(&s.replicas, "replicas", 1, "replicas to start; more than one puts HAProxy in front (at most 3)")
	fs.StringVar(&s.haproxyConfig, "haproxy-config", "deploy/haproxy.cfg", "HAProxy config for -replicas > 1")
	fs.IntVar(&s.pollers, "pollers", 5000, "browsers polling their app's status")
	fs.IntVar(&s.sessions, "sessions", 200, "real sign-ins; the pollers share these sessions (each browser keeps its own connection)")
	fs.IntVar(&s.apps, "apps", 1000, "apps the pollers watch, in mixed states")
	fs.Float64Var(&s.connectRate, "connects", 20, "connects per second against the sandbox")
	fs.IntVar(&s.inFlight, "in-flight", 10, "most connects in flight at once")
	fs.IntVar(&s.deploys, "deploys", 3, "deploys of a -site-bytes site during the run")
	fs.IntVar(&s.siteBytes, "site-bytes", 1<<20, "size of the deployed site")
	fs.DurationVar(&s.warmup, "warmup", 15*time.Second, "pollers alone before the measured run (transactions per poll are measured in its last 4 s, once PostgreSQL has counted the setup's)")
	fs.DurationVar(&s.duration, "duration", 60*time.Second, "the measured run")
	fs.DurationVar(&s.pollEvery, "poll-every", time.Second, "each poller's interval (±10%)")
	fs.StringVar(&s.workDir, "dir", "", "where the binary and the replicas' data go (default: a temporary directory)")
	fs.StringVar(&s.binary, "binary", "", "a built chefdeploy to run (default: build the module in this directory)")
	fs.BoolVar(&s.profile, "profile", false, "save a CPU profile of the measured run and heap profiles of the first replica into -dir")
	fs.StringVar(&s.memoryLimit, "memory-limit", "128MiB", "each replica's GOMEMLIMIT, the Go runtime's soft memory limit, as README \"Sizing a replica\" advises (\"\": none, the runtime's default)")
	fs.IntVar(&s.keyStock, "key-stock", -1, "Convex Auth keys the replicas keep made ahead (AUTH_KEY_STOCK), filled before the warm-up: -1 sizes it for the run ((connects/s x duration + in-flight) / 0.9, above the fillers' reserve), 0 keeps none, so each connect makes its own (about 45 ms of a core)")
	fs.BoolVar(&s.netHTTP, "net-http", false, "pollers use net/http's client, as before loadtest.Poller: its CPU and its collector's pauses then weigh on what is measured")
	fs.StringVar(&s.productEnv, "product-env", "", "extra settings for the replicas, comma-separated NAME=value (e.g. GODEBUG=gctrace=1,GOGC=200)")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	switch {
	case s.pollers < 1 || s.sessions < 1 || s.apps < 5:
		return s, fmt.Errorf("-pollers and -sessions must be at least 1, -apps at least 5")
	case s.replicas < 1 || s.replicas > 3:
		return s, fmt.Errorf("-replicas must be 1 to 3")
	case s.duration <= 0 || s.duration > 30*time.Minute || s.warmup < 0 || s.warmup > 10*time.Minute:
		return s, fmt.Errorf("-duration must be in (0, 30m] and -warmup in [0, 10m]")
	case s.databaseURL == "" && s.target == "":
		return s, fmt.Errorf("set DATABASE_URL or -database-url (make load does)")
	case s.inFlight < 1:
		return s, fmt.Errorf("-in-flight must be at least 1")
	case s.profile && s.workDir == "":
		return s, fmt.Errorf("-profile needs -dir, where the profiles are kept")
	case s.keyStock < -1 || s.keyStock > 10000:
		return s, fmt.Errorf("-key-stock must be -1 (sized for the run) or 0 to 10000 keys")
	case s.memoryLimit != "" && s.memoryLimit != "off" && !memoryLimitSyntax.MatchString(s.memoryLimit):
		return s, fmt.Errorf("-memory-limit must be a GOMEMLIMIT: a number of bytes with an optional B, KiB, MiB, GiB or TiB (e.g. 128MiB), off, or empty")
	}
	s.sessions = min(s.sessions, s.pollers)
	if s.keyStock < 0 {
		// Every connect of the run, above the tenth the fillers keep
		// making even during a burst.
		// AUTH_KEY_STOCK's ceiling: a longer run makes the rest as it goes.
		s.keyStock = min(10000, int((s.connectRate*s.duration.Seconds()+float64(s.inFlight))/0.9))
	}
	if s.target != "" {
		if err := loadtest.CheckLoopback(s.target); err != nil {
			return s, err
		}
		// Before anything is created in the target: the lean pollers speak
		// plain HTTP only.
		if _, err := loadtest.NewPoller(s.target, nil, nil); err != nil && !s.netHTTP {
			return s, fmt.Errorf("-target: %w (or pass -net-http)", err)
		}
	}
	if s.databaseURL != "" {
		if err := loadtest.CheckLoopbackDatabase(s.databaseURL); err != nil {
			return s, err
		}
	}
	return s, nil
}

// product is what the run drives: where, how to sign in, how to read its
// metrics and database.
type product struct {
	base         string
	authorizeURL string
	metricsToken string
	metricsBases []string
	fleet        *loadtest.Fleet
	db           interface {
		GetContext(ctx context.Context, dest any, query string, args ...any) error
	}
	dbName string
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	s, err := parse(args)
	if err != nil {
		return err
	}
	// Everything stops by itself: setup, warm-up, the run and a margin.
	ctx, cancel := context.WithTimeout(ctx, s.warmup+s.duration+10*time.Minute)
	defer cancel()

	p, cleanup, err := start(ctx, s, stdout)
	if err != nil {
		return err
	}
	defer cleanup()

	rec := loadtest.NewRecorder()
	setupRec := loadtest.NewRecorder()
	fmt.Fprintf(stdout, "signing in %d sessions, creating %d apps…\n", s.sessions, s.apps)
	signed, err := signIn(ctx, p, s.sessions, setupRec)
	if err != nil {
		return err
	}
	apps, err := prepareApps(ctx, signed, s.apps, stdout)
	if err != nil {
		return err
	}
	// After the apps: the fifth of them that were connected took keys from
	// the stock, which the fillers would otherwise make again during the
	// warm-up and the first seconds of the run.
	if s.target == "" {
		if err := fillKeyStock(ctx, p, s.keyStock, stdout); err != nil {
			return err
		}
	}

	// Pollers: each its own connection, with a signed-in session's
	// cookies. (loadtest.Poller: net/http's client made this tool's
	// collector pause the measurement; see its comment.)
	pollCtx, stopPolls := context.WithCancel(ctx)
	var pollers sync.WaitGroup
	var polls atomic.Int64
	for i := range s.pollers {
		var b statusPoller
		if s.netHTTP {
			nb := loadtest.NewBrowser(p.base, rec)
			nb.ShareSession(signed[i%len(signed)])
			b = nb
		} else {
			lean, err := loadtest.NewPoller(p.base, signed[i%len(signed)], rec)
			if err != nil {
				stopPolls()
				pollers.Wait()
				return err
			}
			b = lean
		}
		app := apps[i%len(apps)]
		pollers.Go(func() {
			defer b.Close()
			poll(pollCtx, b, app, s.pollEvery, &polls)
		})
	}
	defer func() {
		stopPolls()
		pollers.Wait()
	}()

	sampler := newSampler(p)
	samplerCtx, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	var sampling sync.WaitGroup
	sampling.Go(func() { sampler.run(samplerCtx) })

	fmt.Fprintf(stdout, "%d pollers started; warm-up %v (transactions per poll measured)…\n", s.pollers, s.warmup)
	// The caches fill, then the steady state's transactions per poll are
	// measured. Not before 11 s: PostgreSQL counts an idle backend's
	// transactions in pg_stat_database up to 10 s after them, and the
	// setup's (the key stock's inserts above all) came in late and made
	// one run's figure 0.41 against 0.03.
	settle := max(s.warmup/2, min(11*time.Second, s.warmup-4*time.Second))
	if !sleep(ctx, settle) {
		return ctx.Err()
	}
	txBefore, _ := p.transactions(ctx)
	pollsBefore := polls.Load()
	if !sleep(ctx, s.warmup-settle) {
		return ctx.Err()
	}
	txPerPoll := -1.0
	if txAfter, err := p.transactions(ctx); err == nil && txBefore > 0 {
		if n := polls.Load() - pollsBefore; n > 0 {
			txPerPoll = float64(txAfter-txBefore) / float64(n)
		}
	}
	// The measured run starts with an empty recorder.
	rec.Reset()
	started := time.Now()
	cpuFrom := readCPU(ctx, p)
	if s.profile {
		stop, err := profileSelf(filepath.Join(s.workDir, "load-cpu.pprof"))
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Fprintf(stdout, "measuring for %v: pollers, %.0f connects/s (%d in flight at most), %d deploys of %d KB…\n",
		s.duration, s.connectRate, s.inFlight, s.deploys, s.siteBytes>>10)
	runCtx, stopRun := context.WithTimeout(ctx, s.duration)
	defer stopRun()
	var work sync.WaitGroup
	if s.profile && p.fleet != nil {
		work.Go(func() { profile(runCtx, p.fleet.Replicas[0], s.workDir, s.duration, stdout) })
	}
	var skipped atomic.Int64
	work.Go(func() { connectLoop(runCtx, p.base, signed, rec, s.connectRate, s.inFlight, &skipped) })
	work.Go(func() { deployLoop(runCtx, p.base, signed[0], rec, s.deploys, s.siteBytes, s.duration) })
	<-runCtx.Done()
	elapsed := time.Since(started)
	cpuTo := readCPU(ctx, p)
	stopPolls()
	pollers.Wait()
	work.Wait()
	stopSampler()
	sampling.Wait()

	rows := rec.Summary(elapsed)
	fmt.Fprintf(stdout, "\n%d pollers every %v ±10%%, %d sessions, %d apps, %d replica(s), %v measured\n", s.pollers, s.pollEvery, s.sessions, s.apps, s.replicas, elapsed.Round(time.Second))
	if err := loadtest.WriteTable(stdout, rows); err != nil {
		return err
	}
	var pollP99, connectP50 time.Duration
	errorsTotal := 0
	for _, r := range rows {
		errorsTotal += r.Server5xx + r.Errors
		switch r.Route {
		case "GET /apps/{id}/status":
			pollP99 = r.P99
		case "connect → connected":
			connectP50 = r.P50
		}
	}
	fmt.Fprintln(stdout)
	if n := skipped.Load(); n > 0 {
		fmt.Fprintf(stdout, "connects not started because %d were already in flight: %d of %.0f planned\n", s.inFlight, n, s.connectRate*elapsed.Seconds())
	}
	sampler.report(stdout)
	reportCPU(stdout, cpuFrom, cpuTo, runtime.NumCPU())
	reportServerLatency(stdout, cpuFrom, cpuTo)
	if slow := rec.SlowestSeconds("GET /apps/{id}/status", 5); len(slow) > 0 {
		parts := make([]string, len(slow))
		for i, sec := range slow {
			parts[i] = fmt.Sprintf("+%ds p99 %s max %s (%d polls)", int(sec.At.Seconds()), loadtest.Millis(sec.P99), loadtest.Millis(sec.Max), sec.Count)
		}
		fmt.Fprintf(stdout, "slowest seconds of status polls (since the measured run began): %s\n", strings.Join(parts, "; "))
	}
	if txPerPoll >= 0 {
		fmt.Fprintf(stdout, "database transactions per status poll (end of the warm-up, pollers only, pg_stat_database of %s; includes the replicas' background work, about 60/s each): %.3f\n", p.dbName, txPerPoll)
	} else {
		fmt.Fprintln(stdout, "database transactions per status poll: not measured (no database access or no warm-up)")
	}
	fmt.Fprintf(stdout, "load: pollers=%d poll_p99_ms=%s connect_p50_ms=%s rss_mb=%.0f errors=%d\n",
		s.pollers, loadtest.Millis(pollP99), loadtest.Millis(connectP50), sampler.peakRSSMB(), errorsTotal)
	return nil
}

// start brings the product up (or finds the one at -target).
func start(ctx context.Context, s settings, stdout io.Writer) (*product, func(), error) {
	if s.target != "" {
		p := &product{base: s.target, authorizeURL: s.target + "/sandbox/oidc/authorize", metricsToken: s.metricsToken, metricsBases: []string{s.target}}
		cleanup := func() {}
		if s.databaseURL != "" {
			db, err := openDB(s.databaseURL)
			if err != nil {
				return nil, nil, err
			}
			p.db, p.dbName = db, dbNameOf(s.databaseURL)
			cleanup = func() { db.Close() }
		}
		return p, cleanup, nil
	}
	dir := s.workDir
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, err
		}
	} else {
		tmp, err := os.MkdirTemp("", "chefdeploy-load-")
		if err != nil {
			return nil, nil, err
		}
		dir = tmp
	}
	fmt.Fprintf(stdout, "building chefdeploy and starting %d replica(s)…\n", s.replicas)
	env := []string{"CHECK_CONNECTION_DEADLINE=" + (s.warmup + s.duration + 5*time.Minute).String(), fmt.Sprintf("AUTH_KEY_STOCK=%d", s.keyStock)}
	if s.memoryLimit != "" {
		env = append(env, "GOMEMLIMIT="+s.memoryLimit)
	}
	// Replicas packed on fewer cores than they would each use share them:
	// three Go schedulers of 2 threads each on 2 cores made the OS the
	// scheduler (poll p99 210 ms against 59 ms with one thread each).
	if s.replicas > 1 {
		env = append(env, fmt.Sprintf("GOMAXPROCS=%d", max(1, runtime.NumCPU()/s.replicas)))
	}
	if s.productEnv != "" {
		env = append(env, strings.Split(s.productEnv, ",")...)
	}
	fleet, err := loadtest.StartFleet(ctx, loadtest.FleetOptions{
		Dir: dir, Binary: s.binary, Replicas: s.replicas, HAProxyConfig: s.haproxyConfig, AdminDatabaseURL: s.databaseURL,
		ProjectQuotas: map[string]int{sandbox.TeamAcme: 1_000_000},
		// Apps connecting on the black-hole team stay connecting for the run.
		Env:   env,
		Pprof: s.profile,
	})
	if err != nil {
		return nil, nil, err
	}
	p := &product{base: fleet.URL, authorizeURL: fleet.SandboxURL + "/oidc/authorize", metricsToken: fleet.MetricsToken, fleet: fleet, db: fleet.DB, dbName: fleet.DatabaseName}
	for _, r := range fleet.Replicas {
		p.metricsBases = append(p.metricsBases, "http://"+r.Addr)
	}
	cleanup := func() {
		if err := fleet.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "load: cleaning up:", err)
		}
		if s.workDir == "" {
			os.RemoveAll(dir)
		}
	}
	return p, cleanup, nil
}

// transactions is the database's committed and rolled-back transactions.
func (p *product) transactions(ctx context.Context) (int64, error) {
	if p.db == nil {
		return 0, fmt.Errorf("no database")
	}
	var n int64
	err := p.db.GetContext(ctx, &n, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1`, p.dbName)
	return n, err
}

// signIn makes n sessions through the real sign-in flow, 16 at a time.
func signIn(ctx context.Context, p *product, n int, rec *loadtest.Recorder) ([]*loadtest.Browser, error) {
	out := make([]*loadtest.Browser, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range out {
		out[i] = loadtest.NewBrowser(p.base, rec)
		b := out[i]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := b.Login(ctx, p.authorizeURL, sandbox.UserAda); err != nil {
				errs <- fmt.Errorf("signing in: %w", err)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return out, nil
}

// watched is an app a poller watches.
type watched struct{ id string }

// prepareApps creates n apps and puts them in mixed states: 2/5 never
// connected, 1/5 connected (acme), 1/5 failed (quota-reached) and a few
// connecting (black-hole, whose deadline outlasts the run), the rest of that
// fifth left unconnected, since each connecting app holds a job worker.
func prepareApps(ctx context.Context, signed []*loadtest.Browser, n int, stdout io.Writer) ([]watched, error) {
	apps := make([]watched, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	connecting := 0
	for i := range apps {
		b := signed[i%len(signed)]
		team := ""
		switch i % 5 {
		case 2:
			team = sandbox.TeamAcme
		case 3:
			team = sandbox.TeamQuotaReached
		case 4:
			if connecting < 10 {
				team = sandbox.TeamBlackHole
				connecting++
			}
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			id, err := b.CreateApp(ctx, fmt.Sprintf("Load %d", i))
			if err == nil && team != "" {
				err = b.Connect(ctx, id, team)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("preparing app %d: %w", i, err)
			}
			apps[i] = watched{id: id}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	fmt.Fprintf(stdout, "%d apps created (%d connecting on black-hole)\n", n, connecting)
	return apps, nil
}

// poll is one browser's status polling: its first poll at a random moment
// of the first interval, then every interval ±10%. (A poll=1 that finds the
// state final answers with the whole panel and its out-of-band updates, three
// queries: sent by every browser's first poll, it piled 4,000 requests up
// behind the database pool at the start of each run.)
// statusPoller is a browser tab polling: loadtest.Poller, or with -net-http
// a loadtest.Browser.
type statusPoller interface {
	Status(ctx context.Context, appID string, polling bool) (string, error)
	Close()
}

func poll(ctx context.Context, b statusPoller, app watched, every time.Duration, polls *atomic.Int64) {
	state := ""
	timer := time.NewTimer(time.Duration(rand.Int64N(int64(every))))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		// As the page does: it polls with poll=1 only while it shows
		// connecting; the first request is the page's own fragment.
		st, err := b.Status(ctx, app.id, state == "connecting")
		if err == nil {
			state = st
			polls.Add(1)
		}
		timer.Reset(time.Duration(float64(every) * (0.9 + 0.2*rand.Float64())))
	}
}

// connectLoop starts rate connects per second (at most inFlight at once):
// each creates an app, connects it to acme and watches its status every
// 20ms until it is connected; "connect → connected" is that time.
func connectLoop(ctx context.Context, base string, signed []*loadtest.Browser, rec *loadtest.Recorder, rate float64, inFlight int, skipped *atomic.Int64) {
	if rate <= 0 {
		return
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			skipped.Add(1)
			continue
		}
		b := loadtest.NewBrowser(base, rec)
		b.ShareSession(signed[i%len(signed)])
		wg.Go(func() {
			defer func() { <-sem; b.Close() }()
			id, err := b.CreateApp(ctx, fmt.Sprintf("Connect %d", i))
			if err != nil {
				return
			}
			start := time.Now()
			if err := b.Connect(ctx, id, sandbox.TeamAcme); err != nil {
				return
			}
			for {
				st, err := b.Status(ctx, id, true)
				if err == nil && st == "connected" {
					rec.Observe("connect → connected", time.Since(start), 200)
					return
				}
				if err == nil && st == "failed" {
					rec.Fail("connect → connected")
					return
				}
				if !sleep(ctx, 20*time.Millisecond) {
					return
				}
			}
		})
	}
}

// deployLoop deploys a site of siteBytes n times, spread over the run, on
// an app connected for it, and times each until its deploy is live.
func deployLoop(ctx context.Context, base string, signed *loadtest.Browser, rec *loadtest.Recorder, n, siteBytes int, over time.Duration) {
	if n <= 0 {
		return
	}
	site, err := loadtest.Site(siteBytes)
	if err != nil {
		rec.Fail("deploy → live")
		return
	}
	b := loadtest.NewBrowser(base, rec)
	b.ShareSession(signed)
	defer b.Close()
	id, err := b.CreateApp(ctx, "Deploys")
	if err == nil {
		err = b.Connect(ctx, id, sandbox.TeamAcme)
	}
	for err == nil {
		st, serr := b.Status(ctx, id, true)
		if serr != nil || st == "connected" {
			err = serr
			break
		}
		if st == "failed" {
			err = fmt.Errorf("the deploy app failed to connect")
			break
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return
		}
	}
	if err != nil {
		rec.Fail("deploy → live")
		return
	}
	gap := over / time.Duration(n+1)
	for range n {
		if !sleep(ctx, gap) {
			return
		}
		start := time.Now()
		if err := b.Deploy(ctx, id, site); err != nil {
			continue
		}
		for {
			st, err := b.DeployStatus(ctx, id)
			if err == nil && st != "" && st != "uploading" && st != "pending" {
				if st == "live" || st == "finished" || st == "succeeded" {
					rec.Observe("deploy → live", time.Since(start), 200)
				} else {
					rec.Fail("deploy → live")
				}
				break
			}
			if !sleep(ctx, 100*time.Millisecond) {
				return
			}
		}
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// fillKeyStock waits until the replicas have made the stock of Convex Auth
// keys ahead of time, as a fleet that has been up a while has it: a key
// takes about 45 ms of a core, and the run should measure connects, not the
// first fill of a brand-new database.
func fillKeyStock(ctx context.Context, p *product, want int, stdout io.Writer) error {
	if want == 0 || p.db == nil {
		fmt.Fprintln(stdout, "no Convex Auth key stock: each connect makes its key")
		return nil
	}
	fmt.Fprintf(stdout, "filling the stock of %d Convex Auth keys…\n", want)
	started := time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		var n int
		if err := p.db.GetContext(ctx, &n, `SELECT count(*) FROM auth_key_stock`); err != nil {
			return fmt.Errorf("counting the key stock: %w", err)
		}
		if n >= want {
			took := time.Since(started)
			fmt.Fprintf(stdout, "%d keys made in %v (%.0f a second)\n", n, took.Round(time.Second), float64(n)/took.Seconds())
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the key stock had %d of %d keys when the time ran out", n, want)
		case <-tick.C:
		}
	}
}
