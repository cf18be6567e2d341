package handlers_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
)

// pgCluster is a PostgreSQL server of the test's own, in a temporary
// directory on a free port, which the test may stop and start: the shared
// server on 127.0.0.1:5432 must never be stopped. As root, PostgreSQL runs as
// the postgres user, as scripts/devdb.sh does.
type pgCluster struct {
	t    *testing.T
	bin  string
	data string
	port string
	// URL is the cluster's postgres database, for the superuser chefdeploy.
	URL     string
	running bool
}

// startPGCluster makes and starts a private cluster that is stopped when the
// test ends. It skips the test when no PostgreSQL server binaries are
// installed (Debian: /usr/lib/postgresql/{version}/bin).
func startPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
	}
	sort.Strings(bins)
	dir := t.TempDir()
	pg := &pgCluster{t: t, bin: filepath.Dir(bins[len(bins)-1]), data: filepath.Join(dir, "data")}
	_, pg.port, _ = net.SplitHostPort(webtest.FreeAddr(t))
	pg.URL = fmt.Sprintf("postgres://chefdeploy:chefdeploy@127.0.0.1:%s/postgres?sslmode=disable", pg.port)

	if err := os.Mkdir(pg.data, 0o700); err != nil {
		t.Fatal(err)
	}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte("chefdeploy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: the postgres user owns the data
		// and must be able to reach it through the test's directories.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := exec.Command("chown", "postgres", pg.data).CombinedOutput(); err != nil {
			t.Skipf("no postgres user to run PostgreSQL as: %v %s", err, out)
		}
	}
	pg.run("initdb", "-D", pg.data, "-U", "chefdeploy", "--pwfile="+pwfile, "-A", "scram-sha-256", "--no-sync")
	pg.Start()
	t.Cleanup(func() {
		// Whatever state the test left it in; stopping a stopped server fails, harmlessly.
		argv := pg.command("pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "stop")
		exec.Command(argv[0], argv[1:]...).Run()
	})
	return pg
}

// Start starts the server and returns once it accepts connections.
func (pg *pgCluster) Start() {
	pg.t.Helper()
	pg.run("pg_ctl", "-D", pg.data, "-l", filepath.Join(pg.data, "server.log"), "-w", "-t", "30",
		"-o", fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off", pg.port, pg.data), "start")
	pg.running = true
}

// Running reports whether the server was last started rather than stopped.
func (pg *pgCluster) Running() bool { return pg.running }

// Stop shuts the server down the way an operator's restart does: fast mode
// ends every session at once.
func (pg *pgCluster) Stop() {
	pg.t.Helper()
	pg.run("pg_ctl", "-D", pg.data, "-m", "fast", "-w", "-t", "30", "stop")
	pg.running = false
}

func (pg *pgCluster) command(name string, args ...string) []string {
	cmd := append([]string{filepath.Join(pg.bin, name)}, args...)
	if os.Geteuid() == 0 {
		cmd = append([]string{"runuser", "-u", "postgres", "--"}, cmd...)
	}
	return cmd
}

func (pg *pgCluster) run(name string, args ...string) {
	pg.t.Helper()
	argv := pg.command(name, args...)
	start := time.Now()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(pg.data, "server.log"))
		pg.t.Fatalf("%s: %v\n%s\nserver log:\n%s", name, err, out, log)
	}
	pg.t.Logf("%s took %v", name, time.Since(start).Round(time.Millisecond))
}
