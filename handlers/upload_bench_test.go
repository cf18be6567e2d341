package handlers_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"chefdeploy/credentials"
	"chefdeploy/handlers/webtest"
	"chefdeploy/models/dbtest"
	"chefdeploy/sandbox"
)

// The deploy benchmark's shape: the "50 MB bundle", deployed a few
// times per round so that one slow disk flush does not make the number.
const (
	deployBenchPayload = 50_000_000 // random bytes in the bundle
	deploysPerRound    = 5
)

var (
	deployKeyLine = regexp.MustCompile(`CONVEX_DEPLOY_KEY=(project:[^<\s]+)`)
	deployStatus  = regexp.MustCompile(`data-testid="deploy-steps" data-status="([a-z]+)"`)
	newestDeploy  = regexp.MustCompile(`data-testid="deploy-row" data-deploy-id="([^"]+)"`)
)

// BenchmarkDeploy50MB uploads a 50 MB bundle of random bytes through the
// deploy form and waits until the deploy is live, against the sandbox. The
// product runs as its own process, so that its peak memory (VmHWM) is its
// own and not the sandbox's, which reads every hosting deploy whole; the
// sandbox runs in this process. The baseline, in the same run, is a plain
// io.Copy of the same bytes straight to the sandbox's hosting endpoint.
//
//	make bench
func BenchmarkDeploy50MB(b *testing.B) {
	addr := webtest.FreeAddr(b)
	sb, sandboxURL := startDeploySandbox(b, "http://"+addr)
	product := startProductProcess(b, sandboxURL, addr)
	c := webtest.Browser(b)
	webtest.Login(b, c, product.url, sandboxURL+"/oidc/authorize", sandbox.UserGrace)
	appID := product.connectedApp(b, c, sandbox.TeamHopperLabs)
	deployment := sb.Projects(sandbox.TeamHopperLabs)[0].DeploymentName
	key := product.deployKey(b, c, appID)

	peakReset := true
	deployOnce := func() deploySample {
		b.Helper()
		// A new bundle each time: the same bytes would be deduplicated.
		b.StopTimer()
		site := randomSiteZip(b, deployBenchPayload)
		form, contentType := multipartBundle(b, site)
		b.StartTimer()
		d := deploySample{bytes: int64(len(site))}
		d.baseline = directHostingUpload(b, sandboxURL, deployment, key, site)

		// The peak counts from here: VmHWM is reset to the current RSS.
		peakReset = peakReset && product.resetPeak() == nil
		d.rssKiB = product.memKiB(b, "VmRSS")
		start := time.Now()
		deployID := product.upload(b, c, appID, form, contentType)
		d.post = time.Since(start)
		product.waitLive(b, c, appID, deployID)
		d.endToEnd = time.Since(start)
		d.peakKiB = product.memKiB(b, "VmHWM")
		return d
	}
	// The first deploy warms the product, the database and the sandbox.
	deployOnce()

	var all []deploySample
	for b.Loop() {
		for range deploysPerRound {
			all = append(all, deployOnce())
		}
	}

	median := func(of func(deploySample) float64) float64 {
		v := make([]float64, len(all))
		for i, d := range all {
			v[i] = of(d)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	rate := func(pick func(deploySample) time.Duration) func(deploySample) float64 {
		return func(d deploySample) float64 { return float64(d.bytes) / 1e6 / pick(d).Seconds() }
	}
	endToEnd := rate(func(d deploySample) time.Duration { return d.endToEnd })
	post := rate(func(d deploySample) time.Duration { return d.post })
	baseline := rate(func(d deploySample) time.Duration { return d.baseline })
	ranged := func(of func(deploySample) float64) string {
		lo, hi := of(all[0]), of(all[0])
		for _, d := range all {
			lo, hi = min(lo, of(d)), max(hi, of(d))
		}
		return fmt.Sprintf("median %6.1f MB/s  (range %.1f-%.1f)", median(of), lo, hi)
	}
	worst := all[0] // the deploy with the highest peak
	for _, d := range all {
		if d.peakKiB > worst.peakKiB {
			worst = d
		}
	}
	mib := func(kib int64) float64 { return float64(kib) / 1024 }
	bundleMiB := float64(worst.bytes) / (1 << 20)
	growth := mib(worst.peakKiB - worst.rssKiB)

	b.Logf("machine: %d CPUs; the product in its own process, the sandbox and this client in the test process, PostgreSQL beside them", runtime.NumCPU())
	b.Logf("bundle: %.1f MB zip (%d random bytes stored uncompressed + index.html); %d deploys after one to warm up",
		float64(worst.bytes)/1e6, deployBenchPayload, len(all))
	b.Logf("  %-44s %s", "POST -> live (the whole deploy)", ranged(endToEnd))
	b.Logf("  %-44s %s", "POST alone (receive, validate, store)", ranged(post))
	b.Logf("  %-44s %s", "baseline: io.Copy straight to the sandbox", ranged(baseline))
	b.Logf("  product/baseline (medians): %.2f whole deploy, %.2f POST alone", median(endToEnd)/median(baseline), median(post)/median(baseline))
	if !peakReset {
		b.Logf("  (could not reset VmHWM through /proc/%d/clear_refs: the peak below is the process's lifetime peak)", product.cmd.Process.Pid)
	}
	b.Logf("product process memory, highest of the %d deploys: RSS %.1f MiB before the upload, peak %.1f MiB until live: +%.1f MiB for a %.1f MiB bundle (%.2fx)",
		len(all), mib(worst.rssKiB), mib(worst.peakKiB), growth, bundleMiB, growth/bundleMiB)

	b.ReportMetric(median(endToEnd), "MB/s")
	b.ReportMetric(median(post), "post_MB/s")
	b.ReportMetric(median(baseline), "baseline_MB/s")
	b.ReportMetric(median(endToEnd)/median(baseline), "product/baseline")
	b.ReportMetric(mib(worst.peakKiB), "peak_RSS_MiB")
	b.ReportMetric(growth, "peak_growth_MiB")
}

// deploySample is one measured deploy.
type deploySample struct {
	bytes                    int64
	baseline, post, endToEnd time.Duration
	rssKiB, peakKiB          int64 // the product's RSS before the upload, and its peak until live
}

// startDeploySandbox serves the sandbox from this process, as setup does.
func startDeploySandbox(tb testing.TB, productURL string) (*sandbox.Sandbox, string) {
	tb.Helper()
	srv := httptest.NewServer(nil)
	tb.Cleanup(srv.Close)
	sb, err := sandbox.New(sandbox.Options{
		BaseURL:      srv.URL,
		Clients:      map[string]string{"bench-client": "bench-client-secret"},
		RedirectURIs: map[string]string{"bench-client": productURL + "/auth/callback"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(sb.Close)
	srv.Config.Handler = sb.Handler()
	return sb, srv.URL
}

// productProcess is `chefdeploy serve` running as a child process.
type productProcess struct {
	cmd    *exec.Cmd
	url    string
	output *webtest.Buffer
	exited chan error
}

// startProductProcess builds the module's binary and runs it against its own
// database and the sandbox at sandboxURL; it is stopped with SIGTERM at cleanup.
//
// An empty sandboxURL runs it in sandbox mode, serving the sandbox itself; an
// empty addr picks a free one.
func startProductProcess(tb testing.TB, sandboxURL, addr string) *productProcess {
	tb.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(gomod)), "go.mod") {
		tb.Fatalf("finding the module root: %q %v", gomod, err)
	}
	bin := filepath.Join(tb.TempDir(), "chefdeploy")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}

	_, dbURL := dbtest.New(tb)
	if addr == "" {
		addr = webtest.FreeAddr(tb)
	}
	p := &productProcess{url: "http://" + addr, output: &webtest.Buffer{}, exited: make(chan error, 1)}
	env := map[string]string{
		"DATABASE_URL":               dbURL,
		"HTTP_ADDR":                  addr,
		"BASE_URL":                   p.url,
		"CONVEX_API":                 "builder",
		"PROVISION_HOST":             sandboxURL,
		"CONVEX_API_URL":             sandboxURL,
		"CONVEX_OAUTH_AUTHORIZE_URL": sandboxURL + "/oauth/authorize/team",
		"CONVEX_OAUTH_TOKEN_URL":     sandboxURL + "/oauth/token",
		"CONVEX_OAUTH_CLIENT_ID":     "bench-client",
		"CONVEX_OAUTH_CLIENT_SECRET": "bench-client-secret",
		"OIDC_ISSUER_URL":            sandboxURL + "/oidc",
		"OIDC_CLIENT_ID":             "bench-client",
		"OIDC_CLIENT_SECRET":         "bench-client-secret",
		"ACTION_RATE_LIMIT":          "off", // b.N deploys a minute
		"CONVEX_DASHBOARD_URL":       sandboxURL + "/dashboard",
		"CONVEX_SITE_URL_TEMPLATE":   sandboxURL + "/sites/{deployment}/",
		"SESSION_SECRET":             "bench-session-secret-0123456789abcdef",
		"CREDENTIALS_KEY":            credentials.GenerateSpec("b1"),
		"MAX_BUNDLE_BYTES":           strconv.Itoa(2 * deployBenchPayload),
		"MAX_UPLOADS_PER_USER":       "16",
		"DATA_DIR":                   tb.TempDir(),
		"TMPDIR":                     os.TempDir(),
		"AUTH_KEY_STOCK":             "2", // not production's 200 keys, ~50 ms of a core each
	}
	if sandboxURL == "" {
		// Sandbox mode: the product serves the sandbox itself, as `make run`.
		for _, k := range []string{"PROVISION_HOST", "CONVEX_OAUTH_AUTHORIZE_URL", "CONVEX_OAUTH_TOKEN_URL", "CONVEX_OAUTH_CLIENT_ID",
			"CONVEX_OAUTH_CLIENT_SECRET", "CONVEX_DASHBOARD_URL", "CONVEX_SITE_URL_TEMPLATE",
			"OIDC_ISSUER_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"} {
			delete(env, k)
		}
	}
	p.cmd = exec.Command(bin, "serve")
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	tb.Cleanup(func() { p.stop(tb) })

	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(p.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			tb.Fatalf("chefdeploy exited before it was ready: %v\n%s", err, p.output)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("chefdeploy not ready after 60s:\n%s", p.output)
		}
	}
}

// stop sends SIGTERM, as a deployment would, and waits for a clean exit.
func (p *productProcess) stop(tb testing.TB) {
	select {
	case err := <-p.exited:
		p.exited <- err
		return // already gone; a failure was reported where it happened
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			tb.Errorf("chefdeploy did not exit cleanly after SIGTERM: %v\n%s", err, p.output)
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		tb.Errorf("chefdeploy still running 30s after SIGTERM; killed")
	}
}

// connectedApp creates an app and connects it to team through the forms.
func (p *productProcess) connectedApp(tb testing.TB, c *http.Client, team string) string {
	tb.Helper()
	res := webtest.Do(tb, c, "POST", p.url+"/apps", url.Values{"name": {"Big Site"}})
	id := strings.TrimPrefix(res.Header.Get("Location"), "/apps/")
	if res.Status != http.StatusSeeOther || id == "" {
		tb.Fatalf("create app = %d: %s", res.Status, res.Body)
	}
	res = webtest.Do(tb, c, "POST", p.url+"/apps/"+id+"/connect", url.Values{"team": {team}}, "HX-Request", "true")
	if res.Status != http.StatusOK {
		tb.Fatalf("connect = %d: %s", res.Status, res.Body)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st := webtest.Do(tb, c, "GET", p.url+"/apps/"+id+"/status", nil, "HX-Request", "true")
		m := dataState.FindStringSubmatch(st.Body)
		switch {
		case st.Status != http.StatusOK || m == nil:
			tb.Fatalf("status = %d: %.500s", st.Status, st.Body)
		case m[1] == "connected":
			return id
		case m[1] != "connecting":
			tb.Fatalf("connection ended %s:\n%.2000s", m[1], st.Body)
		case time.Now().After(deadline):
			tb.Fatal("still connecting after 15s")
		}
	}
}

// deployKey reveals the app's deploy key, as its owner would.
func (p *productProcess) deployKey(tb testing.TB, c *http.Client, appID string) string {
	tb.Helper()
	res := webtest.Do(tb, c, "POST", p.url+"/apps/"+appID+"/deploy-key", nil, "HX-Request", "true")
	m := deployKeyLine.FindStringSubmatch(res.Body)
	if res.Status != http.StatusOK || m == nil {
		tb.Fatalf("reveal deploy key = %d: %.500s", res.Status, res.Body)
	}
	return m[1]
}

// upload posts the multipart form the way the deploy form does, checks that
// the deploy was accepted and returns its id.
func (p *productProcess) upload(tb testing.TB, c *http.Client, appID string, form []byte, contentType string) string {
	tb.Helper()
	req, _ := http.NewRequest("POST", p.url+"/apps/"+appID+"/deploys", bytes.NewReader(form))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("HX-Request", "true")
	res, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		tb.Fatal(err)
	}
	m := newestDeploy.FindSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil || !deployStatus.Match(body) {
		tb.Fatalf("deploy upload = %d:\n%.1000s\nproduct log:\n%s", res.StatusCode, body, p.output)
	}
	return string(m[1])
}

// waitLive polls the deploy panel every 20 ms until deploy deployID, the
// newest, is live.
func (p *productProcess) waitLive(tb testing.TB, c *http.Client, appID, deployID string) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		res := webtest.Do(tb, c, "GET", p.url+"/apps/"+appID+"/deploys", nil, "HX-Request", "true")
		m := deployStatus.FindStringSubmatch(res.Body)
		newest := newestDeploy.FindStringSubmatch(res.Body)
		switch {
		case res.Status != http.StatusOK || m == nil || newest == nil:
			tb.Fatalf("deploy panel = %d: %.1000s", res.Status, res.Body)
		case newest[1] != deployID:
			tb.Fatalf("the newest deploy is %s, not the one just uploaded (%s)", newest[1], deployID)
		case m[1] == "live":
			return
		case m[1] != "uploading":
			tb.Fatalf("deploy ended %s:\n%.3000s\nproduct log:\n%s", m[1], res.Body, p.output)
		case time.Now().After(deadline):
			tb.Fatal("deploy not live after 5 minutes")
		}
	}
}

// resetPeak sets the process's VmHWM back to its current RSS.
func (p *productProcess) resetPeak() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0)
}

// memKiB reads one memory line (VmRSS, VmHWM) of /proc/{pid}/status, in KiB.
func (p *productProcess) memKiB(tb testing.TB, field string) int64 {
	tb.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			tb.Fatalf("%s: %v", field, err)
		}
		return kib
	}
	tb.Fatalf("no %s in /proc/%d/status", field, p.cmd.Process.Pid)
	return 0
}

// directHostingUpload is the baseline: the bundle copied with io.Copy
// straight into the sandbox's hosting endpoint, with the app's deploy key.
func directHostingUpload(tb testing.TB, sandboxURL, deployment, key string, site []byte) time.Duration {
	tb.Helper()
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, bytes.NewReader(site))
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequestWithContext(context.Background(), "POST",
		sandboxURL+"/api/hosting/deploy?"+url.Values{"deploymentName": {deployment}}.Encode(), pr)
	req.ContentLength = int64(len(site))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/zip")
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	took := time.Since(start)
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("direct hosting deploy = %d: %s", res.StatusCode, body)
	}
	return took
}

// randomSiteZip is a valid site whose bulk is payload random bytes stored
// without compression, so neither side can shrink it.
func randomSiteZip(tb testing.TB, payload int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	buf.Grow(payload + 1<<10)
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "index.html", Method: zip.Store})
	if err != nil {
		tb.Fatal(err)
	}
	io.WriteString(w, "<!doctype html><title>Big site</title><h1>Big site</h1>")
	w, err = zw.CreateHeader(&zip.FileHeader{Name: "assets/blob.bin", Method: zip.Store})
	if err != nil {
		tb.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for left := payload; left > 0; left -= len(chunk) {
		part := chunk[:min(left, len(chunk))]
		rand.Read(part)
		w.Write(part)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// multipartBundle is the request body the deploy form sends for site.
func multipartBundle(tb testing.TB, site []byte) ([]byte, string) {
	tb.Helper()
	var body bytes.Buffer
	body.Grow(len(site) + 1<<10)
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("bundle", "dist.zip")
	if err != nil {
		tb.Fatal(err)
	}
	fw.Write(site)
	if err := mw.Close(); err != nil {
		tb.Fatal(err)
	}
	return body.Bytes(), mw.FormDataContentType()
}
