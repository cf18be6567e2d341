package loadtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the PostgreSQL driver

	"chefdeploy/credentials"
	"chefdeploy/sandbox"
)

// FleetOptions say what to start.
type FleetOptions struct {
	// Dir holds the binary, the replicas' data and their logs.
	Dir string
	// Binary is a built chefdeploy; "" builds one from the module in the
	// current directory into Dir.
	Binary string
	// Replicas is how many product processes to start; more than one puts
	// HAProxy (HAProxyConfig) in front of them.
	Replicas      int
	HAProxyConfig string
	// AdminDatabaseURL is where a throwaway database is created (and
	// dropped by Close).
	AdminDatabaseURL string
	// Sandbox settings: the slow team's delay, random faults, quotas.
	SlowDelay     time.Duration
	RandomFaults  *sandbox.RandomFaults
	ProjectQuotas map[string]int
	// Env is added to every replica's environment (e.g.
	// CHECK_CONNECTION_DEADLINE).
	Env []string
	// Pprof gives each replica a loopback PPROF_ADDR (Process.PprofAddr).
	Pprof bool
}

// Fleet is the product running as real processes on one database, with the
// Convex sandbox served by this process (so every replica sees the same
// emulated Convex), and HAProxy in front when there is more than one.
type Fleet struct {
	// URL is what browsers use: the replica, or HAProxy.
	URL string
	// SandboxURL is the emulated Convex; its OIDC authorize page is
	// SandboxURL + "/oidc/authorize".
	SandboxURL   string
	Sandbox      *sandbox.Sandbox
	DB           *sqlx.DB
	DatabaseURL  string
	DatabaseName string
	MetricsToken string
	Replicas     []*Process

	opts     FleetOptions
	admin    *sql.DB
	sbServer *http.Server
	haproxy  *exec.Cmd
	env      []string
}

// StartFleet builds (when asked) and starts everything; Close stops it.
func StartFleet(ctx context.Context, opts FleetOptions) (_ *Fleet, err error) {
	if err := CheckLoopbackDatabase(opts.AdminDatabaseURL); err != nil {
		return nil, err
	}
	if opts.Replicas < 1 {
		opts.Replicas = 1
	}
	f := &Fleet{opts: opts, MetricsToken: "load-" + randomHex(12)}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	if opts.Binary == "" {
		opts.Binary = filepath.Join(opts.Dir, "chefdeploy")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", opts.Binary, ".").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build: %v\n%s", err, out)
		}
		f.opts.Binary = opts.Binary
	}
	if err := f.createDatabase(ctx); err != nil {
		return nil, err
	}

	addrs := make([]string, opts.Replicas)
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return nil, err
		}
	}
	f.URL = "http://" + addrs[0]
	var lbAddr string
	if opts.Replicas > 1 {
		if lbAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		f.URL = "http://" + lbAddr
	}
	if err := f.startSandbox(); err != nil {
		return nil, err
	}

	f.env = []string{
		"DATABASE_URL=" + f.DatabaseURL,
		"BASE_URL=" + f.URL,
		"SANDBOX=false",
		"CONVEX_API=builder",
		"PROVISION_HOST=" + f.SandboxURL,
		"CONVEX_API_URL=" + f.SandboxURL,
		"CONVEX_OAUTH_AUTHORIZE_URL=" + f.SandboxURL + "/oauth/authorize/team",
		"CONVEX_OAUTH_TOKEN_URL=" + f.SandboxURL + "/oauth/token",
		"CONVEX_OAUTH_CLIENT_ID=load-client",
		"CONVEX_OAUTH_CLIENT_SECRET=load-client-secret",
		"CONVEX_SITE_URL_TEMPLATE=" + f.SandboxURL + "/sites/{deployment}/",
		"CONVEX_DASHBOARD_URL=" + f.SandboxURL + "/dashboard",
		"OIDC_ISSUER_URL=" + f.SandboxURL + "/oidc",
		"OIDC_CLIENT_ID=load-client",
		"OIDC_CLIENT_SECRET=load-client-secret",
		"SESSION_SECRET=load-session-secret-" + randomHex(16),
		"CREDENTIALS_KEY=" + credentials.GenerateSpec("load1"),
		"METRICS_TOKEN=" + f.MetricsToken,
		"LOGIN_RATE_LIMIT=off",
		"ACTION_RATE_LIMIT=off",
		"MAX_APPS_PER_USER=1000000",
		"MAX_UPLOADS_PER_USER=100",
	}
	f.env = append(f.env, opts.Env...)
	for i, addr := range addrs {
		p := &Process{Name: fmt.Sprintf("replica%d", i+1), Addr: addr, bin: opts.Binary, log: filepath.Join(opts.Dir, fmt.Sprintf("replica%d.log", i+1)),
			env: append(append([]string{}, f.env...), "HTTP_ADDR="+addr, "DATA_DIR="+filepath.Join(opts.Dir, fmt.Sprintf("data%d", i+1)))}
		if opts.Pprof {
			if p.PprofAddr, err = freeAddr(); err != nil {
				return nil, err
			}
			p.env = append(p.env, "PPROF_ADDR="+p.PprofAddr)
		}
		f.Replicas = append(f.Replicas, p)
	}
	// The first replica migrates alone; the others then start together.
	if err := f.Replicas[0].Start(ctx); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(f.Replicas))
	for i, p := range f.Replicas[1:] {
		wg.Go(func() { errs[i] = p.Start(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if lbAddr != "" {
		if err := f.startHAProxy(ctx, lbAddr, addrs); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// createDatabase makes a fresh database next to AdminDatabaseURL's; the
// replicas migrate it when they start.
func (f *Fleet) createDatabase(ctx context.Context) error {
	admin, err := sql.Open("postgres", f.opts.AdminDatabaseURL)
	if err != nil {
		return err
	}
	f.admin = admin
	f.DatabaseName = "chefdeploy_load_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+f.DatabaseName); err != nil {
		return fmt.Errorf("creating the load database: %w", err)
	}
	u, err := url.Parse(f.opts.AdminDatabaseURL)
	if err != nil {
		return err
	}
	u.Path = "/" + f.DatabaseName
	f.DatabaseURL = u.String()
	if f.DB, err = sqlx.Open("postgres", f.DatabaseURL); err != nil {
		return err
	}
	f.DB.SetMaxOpenConns(4)
	return nil
}

// startSandbox serves the emulated Convex on a loopback port of this
// process.
func (f *Fleet) startSandbox() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	f.SandboxURL = "http://" + l.Addr().String()
	f.Sandbox, err = sandbox.New(sandbox.Options{
		BaseURL:           f.SandboxURL,
		Clients:           map[string]string{"load-client": "load-client-secret"},
		RedirectURIs:      map[string]string{"load-client": f.URL + "/auth/callback"},
		OtherRedirectURIs: map[string][]string{"load-client": {f.URL + "/teams/callback"}},
		SlowDelay:         f.opts.SlowDelay,
		RandomFaults:      f.opts.RandomFaults,
		ProjectQuotas:     f.opts.ProjectQuotas,
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		l.Close()
		return err
	}
	f.sbServer = &http.Server{Handler: f.Sandbox.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go f.sbServer.Serve(l)
	return nil
}

// EnsureHAProxy finds haproxy, installing Debian's package when running as
// root and it is missing.
func EnsureHAProxy() (string, error) {
	if path, err := exec.LookPath("haproxy"); err == nil {
		return path, nil
	}
	if os.Getuid() != 0 {
		return "", errors.New("haproxy is missing; install it with: sudo apt-get install -y haproxy")
	}
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "haproxy"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return exec.LookPath("haproxy")
}

// startHAProxy runs HAProxy with the committed config in front of the
// replicas and waits until it routes /readyz.
func (f *Fleet) startHAProxy(ctx context.Context, listen string, replicas []string) error {
	bin, err := EnsureHAProxy()
	if err != nil {
		return err
	}
	if len(replicas) > 3 {
		return errors.New("deploy/haproxy.cfg names three replicas")
	}
	f.haproxy = exec.Command(bin, "-f", f.opts.HAProxyConfig, "-db")
	f.haproxy.Env = append(os.Environ(), "CHEFDEPLOY_LISTEN="+listen)
	for i := range 3 {
		// Fewer replicas than servers: the missing ones point at the first.
		addr := replicas[min(i, len(replicas)-1)]
		f.haproxy.Env = append(f.haproxy.Env, fmt.Sprintf("CHEFDEPLOY_REPLICA_%d=%s", i+1, addr))
	}
	out, err := os.Create(filepath.Join(f.opts.Dir, "haproxy.log"))
	if err != nil {
		return err
	}
	defer out.Close()
	f.haproxy.Stdout, f.haproxy.Stderr = out, out
	if err := f.haproxy.Start(); err != nil {
		return fmt.Errorf("haproxy: %w", err)
	}
	return waitReady(ctx, "http://"+listen, 30*time.Second, nil)
}

// Env is the environment every replica runs with (without HTTP_ADDR and
// DATA_DIR).
func (f *Fleet) Env() []string { return append([]string{}, f.env...) }

// Close stops HAProxy and the replicas (SIGKILL: nothing of theirs is kept),
// the sandbox, and drops the database.
func (f *Fleet) Close() error {
	if f.haproxy != nil && f.haproxy.Process != nil {
		f.haproxy.Process.Kill()
		f.haproxy.Wait()
	}
	for _, p := range f.Replicas {
		p.Kill()
	}
	if f.sbServer != nil {
		f.Sandbox.Close()
		f.sbServer.Close()
	}
	if f.DB != nil {
		f.DB.Close()
	}
	var err error
	if f.admin != nil {
		if f.DatabaseName != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			// A backend PostgreSQL started on the database itself (an
			// autovacuum worker after the run's writes) cannot be
			// terminated by us and fails the drop; it ends by itself.
			for try := 0; try < 5; try++ {
				if _, err = f.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+f.DatabaseName+" WITH (FORCE)"); err == nil || ctx.Err() != nil {
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			cancel()
		}
		f.admin.Close()
	}
	return err
}

// Process is one replica: `chefdeploy serve` as its own process.
type Process struct {
	Name string
	Addr string
	// PprofAddr serves net/http/pprof when FleetOptions.Pprof.
	PprofAddr string
	bin       string
	env       []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	log    string // the file the process writes its output to
	exited chan struct{}
}

// Start runs the process and waits until its /readyz answers 200.
func (p *Process) Start(ctx context.Context) error {
	p.mu.Lock()
	// The output goes to a file, as it would to a log collector that keeps
	// up: a slow reader of the product's stdout would stall its requests.
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	p.cmd = exec.Command(p.bin, "serve")
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.exited = make(chan struct{})
	if err := p.cmd.Start(); err != nil {
		out.Close()
		p.mu.Unlock()
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	out.Close() // the child has its own copy
	cmd, exited := p.cmd, p.exited
	go func() { cmd.Wait(); close(exited) }()
	p.mu.Unlock()
	if err := waitReady(ctx, "http://"+p.Addr, 60*time.Second, exited); err != nil {
		return fmt.Errorf("%s: %w\n%s", p.Name, err, p.Output())
	}
	return nil
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *Process) Kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Kill()
	<-exited
}

// Output is the last 64 KiB the process has printed.
func (p *Process) Output() string {
	f, err := os.Open(p.log)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > 64<<10 {
		f.Seek(fi.Size()-64<<10, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// LogPath is the file the process writes its output to.
func (p *Process) LogPath() string { return p.log }

// Metrics scrapes the replica's /metrics (directly, not through HAProxy)
// and returns each unlabelled-or-labelled sample's value by its full name.
func (p *Process) Metrics(ctx context.Context, token string) (map[string]float64, error) {
	return ScrapeMetrics(ctx, "http://"+p.Addr, token)
}

// ScrapeMetrics reads base/metrics with the METRICS_TOKEN bearer.
func ScrapeMetrics(ctx context.Context, base, token string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics = %d (is METRICS_TOKEN right?)", res.StatusCode)
	}
	return ParseMetrics(res.Body)
}

// ParseMetrics reads the Prometheus text format: "name{labels} value".
func ParseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// waitReady polls base/readyz until it answers 200, the process exits
// (exited closed) or within passes.
func waitReady(ctx context.Context, base string, within time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if res, err := client.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s/readyz not 200 within %v", base, within)
		case <-exited:
			return errors.New("the process exited before it was ready")
		case <-tick.C:
		}
	}
}

// freeAddr is a loopback address with a port nobody listens on right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
