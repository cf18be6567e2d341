package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"chefdeploy/loadtest"
	"chefdeploy/sandbox"
)

// cluster is a throwaway PostgreSQL cluster of this run, on its own port
// and folder, so restarting it disturbs no one else's.
type cluster struct {
	bin, dir, port string
	owner          string // the OS user that runs it when we are root
}

// pgBin finds PostgreSQL's server programs (Debian keeps them apart).
func pgBin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		if p, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", fmt.Errorf("pg_ctl not found: install postgresql")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

func newCluster(ctx context.Context, dir string) (*cluster, error) {
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	c := &cluster{bin: bin, dir: filepath.Join(dir, "pgdata"), port: port}
	if os.Getuid() == 0 {
		c.owner = "postgres" // initdb refuses root
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if c.owner != "" {
		if out, err := exec.CommandContext(ctx, "chown", "-R", c.owner, dir).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("chown: %v %s", err, out)
		}
	}
	if out, err := c.cmd(ctx, "initdb", "-D", c.dir, "-A", "trust", "-U", "chaos", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return c, c.start(ctx)
}

func (c *cluster) cmd(ctx context.Context, prog string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, prog)
	if c.owner != "" {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", c.owner, "--", path}, args...)...)
	}
	return exec.CommandContext(ctx, path, args...)
}

func (c *cluster) start(ctx context.Context) error {
	out, err := c.cmd(ctx, "pg_ctl", "-D", c.dir, "-w", "-t", "30", "-l", filepath.Join(filepath.Dir(c.dir), "postgres.log"),
		"-o", "-p "+c.port+" -k "+filepath.Dir(c.dir)+" -c listen_addresses=127.0.0.1 -c fsync=off", "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	return nil
}

func (c *cluster) stop(ctx context.Context) error {
	out, err := c.cmd(ctx, "pg_ctl", "-D", c.dir, "-w", "-t", "30", "-m", "fast", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

func (c *cluster) url() string {
	return "postgres://chaos@127.0.0.1:" + c.port + "/postgres?sslmode=disable"
}

// restartPostgres is (c): a replica on its own PostgreSQL cluster, pollers
// running; the cluster is stopped and started again. /readyz must answer
// 503 while it is down and 200 again by itself; the connected apps stay
// connected and the live deploy live; and a change written while the
// replica's LISTEN connection is still down must be what the status poll
// shows from the first request sent after it was written.
func restartPostgres(ctx context.Context, s settings, log io.Writer) (o outcome) {
	o.tried = "own PostgreSQL cluster stopped (fast) and started under 50 pollers; a connection changed right after the start, before the replica's listener is back"
	c, err := newCluster(ctx, filepath.Join(s.dir, "c-postgres"))
	if err != nil {
		o.err = err
		return
	}
	defer c.stop(context.WithoutCancel(ctx))
	s.databaseURL = c.url()
	f, b, done, err := stage(ctx, s, "c", loadtest.FleetOptions{Replicas: 1})
	if err != nil {
		o.err = err
		return
	}
	defer done()
	ids, err := connectApps(ctx, b, 5, sandbox.TeamAcme, "Chaos c")
	if err != nil {
		o.err = err
		return
	}
	if st, err := waitSettled(ctx, f, ids, time.Now(), 30*time.Second, false); err != nil || st.connected != len(ids) {
		o.err = fmt.Errorf("setting up: %v (%d of %d connected)", err, st.connected, len(ids))
		return
	}
	site, err := loadtest.Site(64 << 10)
	if err != nil {
		o.err = err
		return
	}
	if o.err = b.Deploy(ctx, ids[0], site); o.err != nil {
		return
	}
	if st, err := waitDeploy(ctx, f, ids[0], 1, 60*time.Second); err != nil || st != "live" {
		o.err = fmt.Errorf("setting up the deploy: %v (%s)", err, st)
		return
	}
	target := ids[len(ids)-1]
	// Pollers keep the status cache warm and the product busy.
	pollCtx, stopPolls := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var polls, pollErrors atomic.Int64
	for i := range 50 {
		p := loadtest.NewBrowser(f.URL, nil)
		p.ShareSession(b)
		wg.Go(func() {
			defer p.Close()
			for pollCtx.Err() == nil {
				if _, err := p.Status(pollCtx, ids[i%len(ids)], false); err == nil {
					polls.Add(1)
				} else if pollCtx.Err() == nil {
					pollErrors.Add(1)
				}
				select {
				case <-pollCtx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
		})
	}
	defer func() { stopPolls(); wg.Wait() }()
	if st, err := b.Status(ctx, target, false); err != nil || st != "connected" {
		o.err = fmt.Errorf("before the restart the target shows %q, %v", st, err)
		return
	}

	if o.err = c.stop(ctx); o.err != nil {
		return
	}
	down := time.Now()
	saw503 := false
	for time.Since(down) < 10*time.Second {
		if readyz(ctx, f.Replicas[0]) == 503 {
			saw503 = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if o.err = c.start(ctx); o.err != nil {
		return
	}
	// Written as soon as PostgreSQL is back: the replica's listener is
	// still reconnecting, so the NOTIFY this fires reaches no one.
	var written time.Time
	for {
		_, err := f.DB.ExecContext(ctx, `UPDATE connections SET state = 'failed', error = 'Changed during the outage' WHERE app_id = $1`, target)
		if err == nil {
			written = time.Now()
			break
		}
		if time.Since(down) > 60*time.Second {
			o.err = fmt.Errorf("writing after the restart: %w", err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	// From now on the target must never show connected.
	stale, fresh := 0, 0
	recovered := time.Duration(0)
	for time.Since(written) < 15*time.Second {
		st, err := b.Status(ctx, target, false)
		switch {
		case err != nil:
		case st == "connected":
			stale++
		case st == "failed":
			fresh++
		}
		if recovered == 0 && readyz(ctx, f.Replicas[0]) == 200 {
			recovered = time.Since(down)
		}
		if recovered > 0 && fresh >= 20 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var stillConnected int
	if o.err = f.DB.GetContext(ctx, &stillConnected, `SELECT count(*) FROM connections WHERE state = 'connected'`); o.err != nil {
		return
	}
	deploy, err := waitDeploy(ctx, f, ids[0], 1, 5*time.Second)
	if err != nil {
		o.err = err
		return
	}
	fmt.Fprintf(log, "  polls: %d answered, %d errors during the outage\n", polls.Load(), pollErrors.Load())
	o.held = fmt.Sprintf("readyz 503 while down: %v; 200 again %v after the stop; target polled %d times after the write: %d stale, %d fresh; %d/%d other apps still connected; deploy %s",
		saw503, recovered.Round(100*time.Millisecond), stale+fresh, stale, fresh, stillConnected, len(ids)-1, deploy)
	o.ok = saw503 && recovered > 0 && stale == 0 && fresh > 0 && stillConnected == len(ids)-1 && deploy == "live"
	return
}
