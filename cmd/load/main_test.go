package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseSendsTrafficOnlyToLoopback(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"http://10.1.2.3:8080", "https://example.com", "http://0.0.0.0:8080"} {
		_, err := parse([]string{"-target", target})
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("-target %s: %v, want a loopback refusal", target, err)
		}
	}
	if _, err := parse([]string{"-database-url", "postgres://u:p@db.example.com/x"}); err == nil {
		t.Error("a remote database was accepted")
	}
	if _, err := parse([]string{"-target", "https://127.0.0.1:8443"}); err == nil || !strings.Contains(err.Error(), "-net-http") {
		t.Errorf("an https target for the lean pollers: %v, want a refusal naming -net-http", err)
	}
	if _, err := parse([]string{"-target", "https://127.0.0.1:8443", "-net-http"}); err != nil {
		t.Errorf("an https target with -net-http: %v", err)
	}
	s, err := parse([]string{"-target", "http://127.0.0.1:8080", "-pollers", "10", "-apps", "5"})
	if err != nil || s.pollers != 10 || s.sessions != 10 {
		t.Fatalf("parse = %+v, %v (sessions are capped at pollers)", s, err)
	}
}

func TestParseBoundsTheRun(t *testing.T) {
	t.Parallel()
	db := "postgres://u:p@127.0.0.1/x"
	for name, args := range map[string][]string{
		"endless":         {"-database-url", db, "-duration", "2h"},
		"four replicas":   {"-database-url", db, "-replicas", "4"},
		"no pollers":      {"-database-url", db, "-pollers", "0"},
		"profile no dir":  {"-database-url", db, "-profile"},
		"no database":     {"-database-url", ""},
		"no connects cap": {"-database-url", db, "-in-flight", "0"},
		"memory limit":    {"-database-url", db, "-memory-limit", "128MB"},
		"key stock":       {"-database-url", db, "-key-stock", "-2"},
	} {
		if _, err := parse(args); err == nil {
			t.Errorf("%s: parse(%q) accepted it", name, args)
		}
	}
}

func TestParseMemoryLimit(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"", "128MiB", "1GiB", "134217728", "off"} {
		if _, err := parse([]string{"-database-url", "postgres://u:p@127.0.0.1/x", "-memory-limit", ok}); err != nil {
			t.Errorf("-memory-limit %q: %v", ok, err)
		}
	}
}

// The stock sized for a long run stays within what AUTH_KEY_STOCK accepts.
func TestParseSizesTheKeyStock(t *testing.T) {
	t.Parallel()
	db := "postgres://u:p@127.0.0.1/x"
	if s, err := parse([]string{"-database-url", db, "-duration", "60s"}); err != nil || s.keyStock != 1344 {
		t.Errorf("60 s at 20/s: key stock %d, %v; want 1344", s.keyStock, err)
	}
	if s, err := parse([]string{"-database-url", db, "-duration", "30m"}); err != nil || s.keyStock != 10000 {
		t.Errorf("30 min: key stock %d, %v; want the ceiling 10000", s.keyStock, err)
	}
}

// processSeconds finds this test binary by its command name and counts the
// CPU it spends: the figure the run's CPU split gives PostgreSQL and HAProxy.
func TestProcessSecondsCountsANamedProcess(t *testing.T) {
	raw, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimSpace(string(raw))
	before := processSeconds(name)
	deadline := time.Now().Add(5 * time.Second)
	x := 1.0
	for processSeconds(name) < before+0.2 {
		if time.Now().After(deadline) {
			t.Fatalf("processSeconds(%q) stayed at %.2f s while the process spent CPU", name, processSeconds(name))
		}
		for i := 0; i < 1e6; i++ {
			x = x*1.0000001 + 1e-9
		}
	}
	if x == 0 {
		t.Fatal("unreachable: keeps the loop")
	}
	if got := processSeconds("no-such-process-name"); got != 0 {
		t.Fatalf("processSeconds of a name no process has = %.2f, want 0", got)
	}
}
