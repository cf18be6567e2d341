package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
)

// The same-name flood's shape: one user creating many apps of one name at
// once, each request given up after floodTimeout.
const (
	floodCreates = 500
	floodTimeout = 30 * time.Second
)

// BenchmarkSameNameFlood has one signed-in user send 500 concurrent creates
// of "same name" to the in-process product, while /healthz and /readyz are
// probed every 20 ms, and reports throughput, p50/p99 of the creates, how many timed out
// (after 30 s) and the p99 of /healthz during the flood. FLOOD_MAX_APPS sets
// MAX_APPS_PER_USER (unset: the default, 200).
//
//	go test -run '^$' -bench SameNameFlood -benchtime=1x -count=1 ./handlers
func BenchmarkSameNameFlood(b *testing.B) {
	var opts []func(*setupOptions)
	if v := os.Getenv("FLOOD_MAX_APPS"); v != "" {
		opts = append(opts, withEnv("MAX_APPS_PER_USER", v))
	}
	p := benchSetup(b, opts...)
	browser := webtest.Browser(b)
	webtest.Login(b, browser, p.app.URL, p.cfg.OIDCIssuerURL+"/authorize", "ada")
	c := loadClient(b, floodCreates)
	c.Jar = browser.Jar
	c.Timeout = floodTimeout

	for b.Loop() {
		var (
			mu       sync.Mutex
			took     []time.Duration
			statuses = map[string]int{}
			health   []time.Duration
			ready    []time.Duration
		)
		stop := make(chan struct{})
		probed := make(chan struct{})
		// The peak RSS counts from here: VmHWM is reset to the current RSS.
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			b.Logf("resetting VmHWM: %v (the peak includes the set-up)", err)
		}
		fdsBefore, peakFDs := openFDs(b), 0
		go func() {
			defer close(probed)
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				health = append(health, probe(p.app.URL+"/healthz"))
				ready = append(ready, probe(p.app.URL+"/readyz"))
				peakFDs = max(peakFDs, openFDs(b))
			}
		}()

		start := time.Now()
		var wg sync.WaitGroup
		for range floodCreates {
			wg.Go(func() {
				t0 := time.Now()
				res, err := c.PostForm(p.app.URL+"/apps", url.Values{"name": {"same name"}})
				outcome := ""
				switch {
				case errors.Is(err, context.DeadlineExceeded) || (err != nil && strings.Contains(err.Error(), "Client.Timeout")):
					outcome = "timeout"
				case err != nil:
					outcome = "error"
				default:
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					outcome = fmt.Sprint(res.StatusCode)
				}
				mu.Lock()
				took = append(took, time.Since(t0))
				statuses[outcome]++
				mu.Unlock()
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(stop)
		<-probed

		var apps int
		if err := p.db.Get(&apps, `SELECT count(*) FROM apps`); err != nil {
			b.Fatal(err)
		}
		slices.Sort(took)
		slices.Sort(health)
		slices.Sort(ready)
		q := func(d []time.Duration, f float64) float64 { return ms(d[int(f*float64(len(d)-1))]) }
		b.Logf("%d creates in %.1f s: %.1f req/s, p50 %.0f ms, p99 %.0f ms; outcomes %v; %d apps stored; /healthz p50 %.2f ms, p99 %.2f ms, /readyz (a database ping) p50 %.2f ms, p99 %.2f ms over %d probes each",
			floodCreates, elapsed.Seconds(), float64(floodCreates)/elapsed.Seconds(), q(took, 0.5), q(took, 0.99), statuses, apps,
			q(health, 0.5), q(health, 0.99), q(ready, 0.5), q(ready, 0.99), len(health))
		b.ReportMetric(float64(floodCreates)/elapsed.Seconds(), "creates/s")
		b.ReportMetric(q(took, 0.5), "p50_ms")
		b.ReportMetric(q(took, 0.99), "p99_ms")
		b.ReportMetric(float64(statuses["timeout"]), "timeouts")
		b.ReportMetric(q(health, 0.99), "healthz_p99_ms")
		b.ReportMetric(q(ready, 0.99), "readyz_p99_ms")
		b.Logf("open files %d before, %d at the peak; peak RSS (VmHWM) %.1f MiB", fdsBefore, peakFDs, float64(procStatusKiB(b, "VmHWM"))/1024)
		b.ReportMetric(float64(peakFDs), "peak_fds")
		b.ReportMetric(float64(procStatusKiB(b, "VmHWM"))/1024, "peak_rss_MiB")
	}
}

// probe times one GET of target, given up after floodTimeout.
func probe(target string) time.Duration {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), floodTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", target, nil)
	if err != nil {
		panic(err)
	}
	if res, err := http.DefaultClient.Do(req); err == nil {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	return time.Since(t0)
}
