package main

import (
	"strings"
	"testing"
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
	} {
		if _, err := parse(args); err == nil {
			t.Errorf("%s: parse(%q) accepted it", name, args)
		}
	}
}
