package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"chefdeploy/loadtest"
)

// cpuClock reads, at one moment, the CPU time spent so far by the
// product's replicas (their process_cpu_seconds_total), by this load tool
// (its clients and the sandbox it serves) and by the whole machine, so the
// run can say where the cores went: on a shared machine the load
// generator's own work is part of what the product's latency pays for.
type cpuClock struct {
	at       time.Time
	replicas float64
	self     float64
	machine  float64 // busy seconds, all CPUs (/proc/stat)
	// postgres and haproxy are the CPU seconds of the machine's processes
	// by those names, with their reaped children (PostgreSQL's backends
	// come and go): the rest of what shares the cores.
	postgres float64
	haproxy  float64
	// statusBuckets is the product's own latency histogram of status
	// polls, summed over the replicas: cumulative count by upper bound.
	statusBuckets map[string]float64
}

func readCPU(ctx context.Context, p *product) cpuClock {
	c := cpuClock{at: time.Now(), statusBuckets: map[string]float64{}}
	const bucket = `chefdeploy_http_request_duration_seconds_bucket{method="GET",route="GET /apps/{id}/status",le="`
	for _, base := range p.metricsBases {
		if m, err := loadtest.ScrapeMetrics(ctx, base, p.metricsToken); err == nil {
			c.replicas += m["process_cpu_seconds_total"]
			for name, v := range m {
				if le, ok := strings.CutPrefix(name, bucket); ok {
					c.statusBuckets[strings.TrimSuffix(le, `"}`)] += v
				}
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.self = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	c.machine = machineBusySeconds()
	c.postgres, c.haproxy = processSeconds("postgres"), processSeconds("haproxy")
	return c
}

// processSeconds sums the user and system time, their reaped children's
// included, of every process whose command is name (/proc/PID/stat).
func processSeconds(name string) float64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var ticks float64
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // it ended meanwhile
		}
		// pid (comm) state ...: comm may hold spaces, so cut at the last ')'.
		lo, hi := strings.IndexByte(string(raw), '('), strings.LastIndexByte(string(raw), ')')
		if lo < 0 || hi < lo {
			continue
		}
		comm := string(raw[lo+1 : hi])
		if comm != name && !strings.HasPrefix(comm, name+":") {
			continue
		}
		// After the comm: state is field 3, utime..cstime are 14..17.
		fields := strings.Fields(string(raw[hi+1:]))
		if len(fields) < 15 {
			continue
		}
		for _, f := range fields[11:15] {
			if v, err := strconv.ParseFloat(f, 64); err == nil {
				ticks += v
			}
		}
	}
	return ticks / 100
}

// machineBusySeconds is the first line of /proc/stat: the time all CPUs
// spent not idle, in USER_HZ ticks (100 a second on Linux).
func machineBusySeconds() float64 {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, f := range fields[1:] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return 0
		}
		if i != 3 && i != 4 { // idle and iowait
			busy += v
		}
	}
	return busy / 100
}

// reportCPU prints the cores each part kept busy between from and to.
func reportCPU(w io.Writer, from, to cpuClock, cpus int) {
	secs := to.at.Sub(from.at).Seconds()
	if secs <= 0 {
		return
	}
	product := (to.replicas - from.replicas) / secs
	self := (to.self - from.self) / secs
	machine := (to.machine - from.machine) / secs
	postgres := (to.postgres - from.postgres) / secs
	haproxy := (to.haproxy - from.haproxy) / secs
	fmt.Fprintf(w, "CPU over the measured run, in cores busy of %d: product %.2f, load tool (its browsers and the sandbox) %.2f, PostgreSQL %.2f, HAProxy %.2f, everything else %.2f, idle %.2f\n",
		cpus, product, self, postgres, haproxy, max(0, machine-product-self-postgres-haproxy), max(0, float64(cpus)-machine))
}

// reportServerLatency prints the share of the run's status polls the
// product answered within each bound, by its own histogram (from the
// session check to the answer written): what the product takes, apart from
// the network, the accept queue and the load tool's own scheduling.
func reportServerLatency(w io.Writer, from, to cpuClock) {
	total := to.statusBuckets["+Inf"] - from.statusBuckets["+Inf"]
	if total <= 0 {
		return
	}
	var parts []string
	for _, le := range []string{"0.001", "0.005", "0.01", "0.025", "0.1"} {
		n := to.statusBuckets[le] - from.statusBuckets[le]
		ms, _ := strconv.ParseFloat(le, 64)
		parts = append(parts, fmt.Sprintf("%.2f%% within %g ms", 100*n/total, ms*1000))
	}
	fmt.Fprintf(w, "status polls by the product's own histogram (chefdeploy_http_request_duration_seconds): %s\n", strings.Join(parts, ", "))
}
