package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
	"chefdeploy/sandbox"
)

// A successful status poll, which every connecting browser sends each
// second, is logged at debug level only; a refused one, and every other
// request, still at info.
func TestStatusPollsAreLoggedAtDebugLevel(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, sandbox.UserAda)
	id := b.createApp(t, c, "Quiet")
	if res := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/status?poll=1", nil, "HX-Request", "true"); res.Status != http.StatusOK {
		t.Fatalf("status = %d", res.Status)
	}
	missing := "/apps/00000000-0000-0000-0000-000000000000/status"
	if res := webtest.Do(t, c, "GET", b.app.URL+missing, nil, "HX-Request", "true"); res.Status != http.StatusNotFound {
		t.Fatalf("missing app's status = %d", res.Status)
	}
	var pollLevels, missingLevels, createLevels []string
	for _, line := range strings.Split(b.logs.String(), "\n") {
		if !strings.Contains(line, "msg=request") {
			continue
		}
		level := strings.Fields(line)[1]
		switch {
		case strings.Contains(line, "path=/apps/"+id+"/status"):
			pollLevels = append(pollLevels, level)
		case strings.Contains(line, "path="+missing):
			missingLevels = append(missingLevels, level)
		case strings.Contains(line, `route="POST /apps"`):
			createLevels = append(createLevels, level)
		}
	}
	if len(pollLevels) != 1 || pollLevels[0] != "level=DEBUG" {
		t.Errorf("the successful poll was logged as %v, want once at level=DEBUG", pollLevels)
	}
	if len(missingLevels) != 1 || missingLevels[0] != "level=INFO" {
		t.Errorf("the refused poll was logged as %v, want once at level=INFO", missingLevels)
	}
	if len(createLevels) != 1 || createLevels[0] != "level=INFO" {
		t.Errorf("POST /apps was logged as %v, want once at level=INFO", createLevels)
	}
}

// /metrics carries what an operator watches polling by: the caches' hits
// and misses and the database pool's connections.
func TestMetricsShowCachesAndThePool(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, sandbox.UserAda)
	id := b.createApp(t, c, "Counted")
	full := b.createApp(t, c, "Full")
	b.connect(t, c, full, sandbox.TeamQuotaReached)
	if st := stateOf(t, b.waitFinal(t, c, full, 15*time.Second).Body); st != "failed" {
		t.Fatalf("quota-reached connect ended %s", st)
	}
	b.waitMetric(t, c, `chefdeploy_connect_failures_total{reason="quota"} 1`)
	for range 2 {
		if res := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/status", nil, "HX-Request", "true"); res.Status != http.StatusOK {
			t.Fatalf("status = %d", res.Status)
		}
	}
	m := webtest.Do(t, c, "GET", b.app.URL+"/metrics", nil, "Authorization", "Bearer "+testMetricsToken)
	for _, want := range []string{
		`chefdeploy_cache_hits_total{cache="status"}`,
		`chefdeploy_cache_misses_total{cache="status"}`,
		`chefdeploy_cache_hits_total{cache="session"}`,
		`go_sql_open_connections{db_name="chefdeploy"}`,
		`go_sql_wait_count_total{db_name="chefdeploy"}`,
		`chefdeploy_stuck_connections 0`,
		`chefdeploy_jobs{state="available"}`,
		`chefdeploy_jobs{state="running"}`,
	} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
