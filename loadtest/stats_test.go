package loadtest

import (
	"strings"
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	t.Parallel()
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one value", ms(7), 50, 7 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 of 1..100", ms(hundred...), 100, 100 * time.Millisecond},
		{"p95 of four", ms(1, 2, 3, 40), 95, 40 * time.Millisecond},
		{"p50 of four", ms(1, 2, 3, 40), 50, 2 * time.Millisecond},
		{"p0 is the smallest", ms(1, 2, 3), 0, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestRecorderSummaryAndTable(t *testing.T) {
	t.Parallel()
	r := NewRecorder()
	for i := 1; i <= 10; i++ {
		r.Observe("GET /apps/{id}/status", time.Duration(i)*time.Millisecond, 200)
	}
	r.Observe("POST /apps", 3*time.Millisecond, 503)
	r.Fail("POST /apps")
	rows := r.Summary(2 * time.Second)
	if len(rows) != 2 || rows[0].Route != "GET /apps/{id}/status" || rows[1].Route != "POST /apps" {
		t.Fatalf("rows = %+v", rows)
	}
	st := rows[0]
	if st.Count != 10 || st.PerSecond != 5 || st.P50 != 5*time.Millisecond || st.P99 != 10*time.Millisecond || st.Server5xx != 0 {
		t.Errorf("status row = %+v", st)
	}
	if rows[1].Server5xx != 1 || rows[1].Errors != 1 || rows[1].Count != 1 {
		t.Errorf("create row = %+v", rows[1])
	}
	var out strings.Builder
	if err := WriteTable(&out, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines:\n%s", len(lines), out.String())
	}
	for _, want := range []string{"route", "req/s", "p99 ms", "5xx", "errors"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header %q lacks %q", lines[0], want)
		}
	}
	if f := strings.Fields(lines[1]); len(f) != 9 || f[2] != "10" || f[3] != "5.0" || f[4] != "5.0" || f[6] != "10.0" {
		t.Errorf("status line fields = %q", f)
	}
}

func TestCheckLoopback(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"http://127.0.0.1:8080", "http://localhost:1/x", "http://[::1]:80", "https://127.3.4.5"} {
		if err := CheckLoopback(ok); err != nil {
			t.Errorf("CheckLoopback(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1:8080", "http://example.com", "http://0.0.0.0:80", "http://127.0.0.1.nip.io", "ftp://127.0.0.1", "127.0.0.1:8080", ""} {
		err := CheckLoopback(bad)
		if err == nil {
			t.Errorf("CheckLoopback(%q) = nil, want a refusal", bad)
		}
	}
	if err := CheckLoopback("http://192.168.1.2"); err == nil || !strings.Contains(err.Error(), "only send traffic to loopback") {
		t.Errorf("the refusal does not say why: %v", err)
	}
	for raw, wantOK := range map[string]bool{
		"postgres://u:p@127.0.0.1:5432/db":     true,
		"postgres://u:p@localhost/db":          true,
		"postgres:///db?host=/var/run/pg":      true,
		"postgres://u:p@db.example.com:5432/x": false,
		"mysql://127.0.0.1/x":                  false,
	} {
		if err := CheckLoopbackDatabase(raw); (err == nil) != wantOK {
			t.Errorf("CheckLoopbackDatabase(%q) = %v, want ok=%v", raw, err, wantOK)
		}
	}
}

func TestParseMetricsReadsSamplesWithAndWithoutLabels(t *testing.T) {
	t.Parallel()
	m, err := ParseMetrics(strings.NewReader(`# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.2345e+08
go_sql_open_connections{db_name="chefdeploy"} 17
chefdeploy_cache_hits_total{cache="status"} 42

not a sample
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"process_resident_memory_bytes":                 1.2345e+08,
		`go_sql_open_connections{db_name="chefdeploy"}`: 17,
		`chefdeploy_cache_hits_total{cache="status"}`:   42,
	}
	if len(m) != len(want) {
		t.Fatalf("parsed %v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func TestSlowestSecondsFindsTheBadMoment(t *testing.T) {
	t.Parallel()
	r := NewRecorder()
	const route = "GET /apps/{id}/status"
	// Three seconds of 100 answers each; in the second one, two are slow.
	for sec := 0; sec < 3; sec++ {
		for i := 0; i < 100; i++ {
			d := time.Millisecond
			if sec == 1 && i < 2 {
				d = time.Duration(40+i) * time.Millisecond
			}
			r.observeAt(route, d, 200, time.Duration(sec)*time.Second+time.Duration(i)*time.Millisecond)
		}
	}
	got := r.SlowestSeconds(route, 2)
	if len(got) != 2 {
		t.Fatalf("SlowestSeconds = %+v, want 2 seconds", got)
	}
	if got[0].At != time.Second || got[0].Count != 100 || got[0].P99 != 40*time.Millisecond || got[0].Max != 41*time.Millisecond {
		t.Errorf("slowest second = %+v, want +1s with 100 answers, p99 40 ms, max 41 ms", got[0])
	}
	if got[1].P99 != time.Millisecond || got[1].At != 0 {
		t.Errorf("next second = %+v, want +0s at 1 ms", got[1])
	}
	if none := r.SlowestSeconds("POST /apps", 5); len(none) != 0 {
		t.Errorf("a route with no answers has slow seconds: %+v", none)
	}
}

func TestRecorderReset(t *testing.T) {
	t.Parallel()
	r := NewRecorder()
	r.Observe("GET /apps/{id}/status", time.Millisecond, 200)
	r.Fail("POST /apps")
	r.Reset()
	if rows := r.Summary(time.Second); len(rows) != 0 {
		t.Fatalf("after Reset: %+v", rows)
	}
	r.Observe("GET /apps/{id}/status", time.Millisecond, 200)
	if rows := r.Summary(time.Second); len(rows) != 1 || rows[0].Count != 1 {
		t.Fatalf("after Reset and one answer: %+v", rows)
	}
}
