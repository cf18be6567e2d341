package replica

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"chefdeploy/config"
	"chefdeploy/credentials"
	"chefdeploy/models/dbtest"
)

// A replica that cannot open its sites listener (the port is taken) fails
// Open with an error naming SITES_ADDR, releasing what it had opened, and
// does not panic.
func TestOpenFailsCleanlyWhenTheSitesPortIsTaken(t *testing.T) {
	t.Parallel()
	_, dbURL := dbtest.New(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := free.Addr().String()
	free.Close()
	env := map[string]string{
		"DATABASE_URL": dbURL, "HTTP_ADDR": httpAddr, "SITES_ADDR": taken.Addr().String(),
		"CONVEX_API": "platform", "DATA_DIR": t.TempDir(),
		"SESSION_SECRET": "open-test-session-secret-0123456789", "CREDENTIALS_KEY": credentials.GenerateSpec("o1"),
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(t.Context(), cfg, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err == nil {
		r.Close()
		t.Fatal("Open succeeded on a taken SITES_ADDR")
	}
	if r != nil || !strings.Contains(err.Error(), "SITES_ADDR") {
		t.Fatalf("Open = %v, %v; want nil and an error naming SITES_ADDR", r, err)
	}
	// What Open had taken is released: the product's port is free again.
	l, err := net.Listen("tcp", httpAddr)
	if err != nil {
		t.Fatalf("HTTP_ADDR still held after the failed Open: %v", err)
	}
	l.Close()
}
