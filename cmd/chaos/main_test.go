package main

import (
	"errors"
	"strings"
	"testing"
)

func TestTableEndsWithTheSummaryLine(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	held := writeTable(&out, []outcome{
		{name: "(a) one", tried: "kill", held: "all final", ok: true},
		{name: "(b) two", tried: "kill again", held: "2 orphans", ok: false},
	})
	if held != 1 {
		t.Fatalf("held = %d, want 1", held)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if last := lines[len(lines)-1]; last != "chaos: 2 scenarios, 1 held" {
		t.Fatalf("last line %q", last)
	}
	table := out.String()
	for _, want := range []string{"scenario", "tried", "(a) one", "all final", "held", "2 orphans", "BROKEN"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
}

func TestParseRefusesWhatItCannotRun(t *testing.T) {
	t.Parallel()
	db := "postgres://u:p@127.0.0.1:5432/x"
	for name, args := range map[string][]string{
		"unknown scenario":  {"-database-url", db, "-only", "a,z"},
		"no database":       {"-database-url", ""},
		"too many apps":     {"-database-url", db, "-apps", "100000"},
		"tiny deadline":     {"-database-url", db, "-deadline", "1ms"},
		"remote postgresql": {"-database-url", "postgres://u:p@db.example.com/x"},
	} {
		if _, err := parse(args); err == nil {
			t.Errorf("%s: parse(%q) accepted it", name, args)
		}
	}
	s, err := parse([]string{"-database-url", db, "-only", "a,d", "-product-env", "AUTH_KEY_STOCK=20"})
	if err != nil || s.only != "a,d" || s.productEnv != "AUTH_KEY_STOCK=20" {
		t.Fatalf("parse = %+v, %v", s, err)
	}
}

func TestContractMessages(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]bool{
		"Failed to create project: 500":                                         true,
		"Failed to create project: 429":                                         true,
		"Failed to create project: ProjectQuotaReached: Team is full.":          true,
		"Failed to create project: the Convex API returned an invalid response": true,
		"Failed to connect to project":                                          true,
		"Failed to create project deploy key: 403":                              true,
		"":               false,
		"internal error": false,
		"Failed to create project: unexpected EOF": false,
	} {
		if got := contractMessage.MatchString(msg); got != want {
			t.Errorf("%q: %v, want %v", msg, got, want)
		}
	}
	o := outcome{err: errors.New("x")}
	if o.ok {
		t.Fatal("an outcome with an error held")
	}
}

func TestOneLineKeepsTheFirstAndLastLine(t *testing.T) {
	t.Parallel()
	got := oneLine("pg_ctl start: exit status 1\nThe files belonging to this database system\ninitdb: error: permission denied\n", 240)
	if got != "pg_ctl start: exit status 1 … initdb: error: permission denied" {
		t.Errorf("oneLine = %q", got)
	}
	if got := oneLine(strings.Repeat("x", 300), 10); got != "xxxxxxxxxx…" {
		t.Errorf("oneLine cut = %q", got)
	}
}
