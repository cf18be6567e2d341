// Command chaos breaks chefdeploy on purpose and checks what must hold:
// replicas killed with SIGKILL mid-connect and mid-deploy, one of three
// replicas behind HAProxy killed mid-provisioning, and a sandbox answering
// slowly, with 500s, 429s and malformed JSON at random (seeded). It runs the
// product as real processes on a throwaway database, talks only to loopback
// addresses, stops by itself, and prints a table of what was tried and what
// held. The last line is machine-readable:
//
//	chaos: N scenarios, M held
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"chefdeploy/loadtest"
)

// settings are the knobs of every scenario.
type settings struct {
	databaseURL   string
	haproxyConfig string
	only          string
	apps          int
	deadline      time.Duration
	slowDelay     time.Duration
	seed          uint64
	siteBytes     int
	settle        time.Duration
	dir           string
	productEnv    string
	bin           string // built once for every scenario
}

// outcome is one scenario's row.
type outcome struct {
	name  string
	tried string
	held  string
	ok    bool
	err   error
}

// scenario is one way of breaking the product.
type scenario struct {
	key  string
	name string
	run  func(ctx context.Context, s settings, log io.Writer) outcome
}

var scenarios = []scenario{
	{"a", "(a) kill -9 mid-connect, restart", killMidConnect},
	{"b", "(b) 1 of 3 replicas killed mid-provisioning", killOneOfThree},
	{"c", "(c) PostgreSQL restarted under load", restartPostgres},
	{"d", "(d) sandbox faults at random (seeded)", randomFaults},
	{"e", "(e) kill -9 mid-deploy, restart", killMidDeploy},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func parse(args []string) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.StringVar(&s.databaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL where throwaway databases are created")
	fs.StringVar(&s.haproxyConfig, "haproxy-config", "deploy/haproxy.cfg", "HAProxy config for scenario b")
	fs.StringVar(&s.only, "only", "a,b,c,d,e", "scenarios to run, comma-separated")
	fs.IntVar(&s.apps, "apps", 100, "apps connecting at once in a, b and d")
	fs.DurationVar(&s.deadline, "deadline", 8*time.Second, "CHECK_CONNECTION_DEADLINE of the product")
	fs.DurationVar(&s.slowDelay, "slow-delay", 2*time.Second, "how long the sandbox's slow answers take")
	fs.Uint64Var(&s.seed, "seed", 1, "seed of the sandbox's random faults")
	fs.IntVar(&s.siteBytes, "site-bytes", 8<<20, "size of the site deployed in e")
	fs.DurationVar(&s.settle, "settle", 45*time.Second, "in e: how long the interrupted deploy may stay uploading (its lease is 30s)")
	fs.StringVar(&s.productEnv, "product-env", "", "extra settings for the replicas, comma-separated NAME=value (e.g. AUTH_KEY_STOCK=20)")
	fs.StringVar(&s.dir, "dir", "", "where binaries, data and logs go (default: a temporary directory, removed after)")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if s.databaseURL == "" {
		return s, fmt.Errorf("set DATABASE_URL or -database-url (make chaos does)")
	}
	if err := loadtest.CheckLoopbackDatabase(s.databaseURL); err != nil {
		return s, err
	}
	if s.apps < 1 || s.apps > 1000 || s.deadline < time.Second || s.deadline > 5*time.Minute {
		return s, fmt.Errorf("-apps must be 1 to 1000 and -deadline 1s to 5m")
	}
	for _, k := range strings.Split(s.only, ",") {
		if !known(k) {
			return s, fmt.Errorf("-only: no scenario %q (want a to e)", k)
		}
	}
	return s, nil
}

func known(key string) bool {
	for _, sc := range scenarios {
		if sc.key == key {
			return true
		}
	}
	return false
}

func run(ctx context.Context, args []string, stdout io.Writer) (bool, error) {
	s, err := parse(args)
	if err != nil {
		return false, err
	}
	// Every scenario is bounded; so is the whole run.
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	keep := s.dir != ""
	if !keep {
		if s.dir, err = os.MkdirTemp("", "chefdeploy-chaos-"); err != nil {
			return false, err
		}
		// Scenario c's PostgreSQL runs as the postgres user when we are
		// root: it must be able to reach its folder inside this one.
		if err := os.Chmod(s.dir, 0o755); err != nil {
			return false, err
		}
		defer os.RemoveAll(s.dir)
	}
	// One build serves every scenario.
	if s.bin, err = build(ctx, s.dir); err != nil {
		return false, err
	}

	var rows []outcome
	for _, sc := range scenarios {
		if !strings.Contains(","+s.only+",", ","+sc.key+",") {
			continue
		}
		fmt.Fprintf(stdout, "— %s\n", sc.name)
		start := time.Now()
		o := sc.run(ctx, s, stdout)
		o.name = sc.name
		if o.err != nil {
			o.ok = false
			o.held = strings.TrimSpace(o.held + " — " + oneLine(o.err.Error(), 240))
		}
		fmt.Fprintf(stdout, "  %s in %v: %s\n", verdict(o.ok), time.Since(start).Round(time.Second), o.held)
		rows = append(rows, o)
	}
	held := writeTable(stdout, rows)
	return held == len(rows), nil
}

// oneLine keeps a table cell on one line: an error's last line (tools such
// as initdb explain before they fail), at most n bytes.
func oneLine(msg string, n int) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	last := strings.TrimSpace(lines[0])
	if len(lines) > 1 {
		last += " … " + strings.TrimSpace(lines[len(lines)-1])
	}
	if len(last) > n {
		last = last[:n] + "…"
	}
	return last
}

func verdict(ok bool) string {
	if ok {
		return "held"
	}
	return "BROKEN"
}

// writeTable prints the scenarios, then the summary line; it returns how
// many held.
func writeTable(w io.Writer, rows []outcome) int {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\ttried\theld\tresult")
	held := 0
	for _, r := range rows {
		if r.ok {
			held++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, r.tried, r.held, verdict(r.ok))
	}
	tw.Flush()
	fmt.Fprintf(w, "chaos: %d scenarios, %d held\n", len(rows), held)
	return held
}
