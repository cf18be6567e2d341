package handlers_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"chefdeploy/handlers/webtest"
	"chefdeploy/sandbox"
)

// The support benchmark's shape: the "100,000 apps seeded".
const (
	supportBenchApps     = 100_000
	supportBenchRequests = 200 // sequential GETs per case
	supportBenchDepth    = 20  // Next links followed from the first page
)

var (
	supportNextLink = regexp.MustCompile(`href="([^"]*)"[^>]*data-testid="support-next"`)
	supportListing  = regexp.MustCompile(`data-testid="support-(row|empty)"`)
)

// BenchmarkSupportPage times the support console with 100,000 apps over 50
// owners, one request at a time as a person uses it: the first page, each
// filter, the searches, and pages reached by following Next. The baseline,
// in the same run against the same server, is GET /healthz.
//
//	make bench
func BenchmarkSupportPage(b *testing.B) {
	bb := supportBenchSetup(b)
	seedSupportApps(b, bb.db, supportBenchApps)
	c := webtest.Browser(b)
	webtest.Login(b, c, bb.app.URL, bb.cfg.OIDCIssuerURL+"/authorize", sandbox.UserSam)

	cases := []struct{ name, path string }{
		{"first page", "/support"},
		{"state=failed", "/support?state=failed"},
		{"team=team-3", "/support?team=team-3"},
		{"q=owner42@", "/support?q=owner42%40"},
		{"q=project-99999", "/support?q=project-99999"},
	}
	get := func(path string) (time.Duration, string) {
		b.Helper()
		start := time.Now()
		res := webtest.Do(b, c, "GET", bb.app.URL+path, nil)
		took := time.Since(start)
		if res.Status != http.StatusOK {
			b.Fatalf("GET %s = %d: %.500s", path, res.Status, res.Body)
		}
		return took, res.Body
	}
	// One of each first, so that no case pays for a cold cache alone.
	get("/healthz")
	for _, tc := range cases {
		if _, body := get(tc.path); !supportListing.MatchString(body) {
			b.Fatalf("GET %s is not the console:\n%.1000s", tc.path, body)
		}
	}

	healthz := &latencies{}
	byCase := make([]*latencies, len(cases))
	for i := range byCase {
		byCase[i] = &latencies{}
	}
	deep := &latencies{}
	for b.Loop() {
		for range supportBenchRequests {
			took, _ := get("/healthz")
			healthz.add(took)
		}
		for i, tc := range cases {
			for range supportBenchRequests {
				took, _ := get(tc.path)
				byCase[i].add(took)
			}
		}
		// Walk pages 2 to 21 by their Next links, as often as it takes to
		// have as many samples as the other cases.
		for walked := 0; walked < supportBenchRequests; walked += supportBenchDepth {
			_, body := get("/support")
			for range supportBenchDepth {
				m := supportNextLink.FindStringSubmatch(body)
				if m == nil {
					b.Fatalf("no Next link on a page of %d apps:\n%.1000s", supportBenchApps, body)
				}
				var took time.Duration
				took, body = get(html.UnescapeString(m[1]))
				deep.add(took)
			}
		}
	}

	base := healthz.quantile(0.5)
	b.Logf("machine: %d CPUs; %d apps over 50 owners; client and server in this process, PostgreSQL beside them", runtime.NumCPU(), supportBenchApps)
	b.Logf("  %-38s %s", "GET /healthz (baseline)", healthz)
	for i, tc := range cases {
		b.Logf("  %-38s %s  p50 %.1fx healthz", "GET "+tc.path, byCase[i], ms(byCase[i].quantile(0.5))/ms(base))
	}
	b.Logf("  %-38s %s  p50 %.1fx healthz", fmt.Sprintf("Next link, pages 2-%d", supportBenchDepth+1), deep, ms(deep.quantile(0.5))/ms(base))

	b.ReportMetric(ms(base), "healthz_p50_ms")
	for i, unit := range []string{"first", "failed", "team", "owner", "project"} {
		b.ReportMetric(ms(byCase[i].quantile(0.5)), unit+"_p50_ms")
		b.ReportMetric(ms(byCase[i].quantile(0.99)), unit+"_p99_ms")
	}
	b.ReportMetric(ms(deep.quantile(0.5)), "deep_p50_ms")
	b.ReportMetric(ms(deep.quantile(0.99)), "deep_p99_ms")
}

// supportBenchSetup is benchSetup with SUPPORT_TEAM_SLUG=chef-support, the
// sandbox's support team, as the support tests get it from withEnv.
func supportBenchSetup(tb testing.TB) *bundle {
	tb.Helper()
	return benchSetup(tb, withEnv("SUPPORT_TEAM_SLUG", sandbox.TeamChefSupport))
}

// seedSupportApps makes n apps over 50 owners, in every state and several
// teams, with SQL alone, the way the models' seedApps does: the per-row copy
// triggers are paused and their work is done in one UPDATE. The change
// notifications are paused too: nothing is cached for these new apps, and
// 175,000 notifications would keep the status cache's listener busy while
// the benchmark measures.
func seedSupportApps(tb testing.TB, db *sqlx.DB, n int) {
	tb.Helper()
	ctx := context.Background()
	exec := func(q string, args ...any) {
		tb.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			tb.Fatalf("%v\n%s", err, q)
		}
	}
	exec(`
		INSERT INTO users (convex_id, name, email)
		SELECT 'u' || i, 'User ' || i, 'owner' || i || '@example.com' FROM generate_series(1, 50) i`)
	exec(`ALTER TABLE apps DISABLE TRIGGER apps_search`)
	exec(`ALTER TABLE apps DISABLE TRIGGER apps_notify`)
	exec(`ALTER TABLE connections DISABLE TRIGGER connections_to_app`)
	exec(`ALTER TABLE connections DISABLE TRIGGER connections_notify`)
	exec(`
		INSERT INTO apps (owner_id, slug, name, created_at)
		SELECT (SELECT id FROM users WHERE convex_id = 'u' || (1 + i % 50)), 'app-' || i, 'App ' || i,
		       now() - i * interval '1 second'
		  FROM generate_series(1, $1) i`, n)
	// Three apps in four have a connection: connected, failed, connecting.
	// The deadline is an hour away so that the sweeper does not fail 25,000
	// connections in the middle of the measurement.
	exec(`
		INSERT INTO connections (app_id, state, attempt, team_slug, project_slug, error, deadline_at, state_changed_at)
		SELECT a.id,
		       (ARRAY['connected', 'failed', 'connecting'])[1 + n % 3],
		       1, 'team-' || (n % 7), 'project-' || n,
		       CASE WHEN n % 3 = 1 THEN 'Failed to create project: 500' ELSE '' END,
		       now() + interval '1 hour', now()
		  FROM (SELECT id, row_number() OVER (ORDER BY created_at) AS n FROM apps) a
		 WHERE n % 4 <> 0`)
	exec(`
		UPDATE apps a SET conn_state = COALESCE(c.state, 'none'), conn_team = COALESCE(c.team_slug, ''),
		       search = lower(a.name || ' ' || u.email || ' ' || COALESCE(c.project_slug, ''))
		  FROM apps a2 JOIN users u ON u.id = a2.owner_id LEFT JOIN connections c ON c.app_id = a2.id
		 WHERE a2.id = a.id`)
	for _, q := range []string{
		`ALTER TABLE connections ENABLE TRIGGER connections_notify`,
		`ALTER TABLE connections ENABLE TRIGGER connections_to_app`,
		`ALTER TABLE apps ENABLE TRIGGER apps_notify`,
		`ALTER TABLE apps ENABLE TRIGGER apps_search`,
		`ANALYZE`,
	} {
		exec(q)
	}
}

// latencies are the times of sequential requests.
type latencies struct{ took []time.Duration }

func (l *latencies) add(d time.Duration) { l.took = append(l.took, d) }

func (l *latencies) count() int { return len(l.took) }

func (l *latencies) quantile(q float64) time.Duration {
	if len(l.took) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(l.took))
	return s[int(q*float64(len(s)-1))]
}

func (l *latencies) String() string {
	return fmt.Sprintf("%5d requests  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms",
		l.count(), ms(l.quantile(0.5)), ms(l.quantile(0.99)), ms(l.quantile(1)))
}
