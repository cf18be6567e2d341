package models_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"chefdeploy/models"
	"chefdeploy/models/dbtest"
)

// seedApps makes n apps over a few users, in every state and several teams,
// with SQL alone so that 100,000 take a few seconds.
func seedApps(t *testing.T, db *sqlx.DB, n int) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `
		INSERT INTO users (convex_id, name, email)
		SELECT 'u' || i, 'User ' || i, 'owner' || i || '@example.com' FROM generate_series(1, 50) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ALTER TABLE apps DISABLE TRIGGER apps_search`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `
		INSERT INTO apps (owner_id, slug, name, created_at)
		SELECT (SELECT id FROM users WHERE convex_id = 'u' || (1 + i % 50)), 'app-' || i, 'App ' || i,
		       now() - i * interval '1 second'
		  FROM generate_series(1, $1) i`, n); err != nil {
		t.Fatal(err)
	}
	// Three apps in four have a connection: connected, failed, connecting.
	// The per-row copy trigger is paused and its work done in one statement,
	// which is what makes 100,000 apps quick to seed.
	if _, err := db.ExecContext(ctx, `ALTER TABLE connections DISABLE TRIGGER connections_to_app`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `
		INSERT INTO connections (app_id, state, attempt, team_slug, project_slug, error, deadline_at, state_changed_at)
		SELECT a.id,
		       (ARRAY['connected', 'failed', 'connecting'])[1 + n % 3],
		       1, 'team-' || (n % 7), 'project-' || n,
		       CASE WHEN n % 3 = 1 THEN 'Failed to create project: 500' ELSE '' END,
		       now() + interval '1 minute', now()
		  FROM (SELECT id, row_number() OVER (ORDER BY created_at) AS n FROM apps) a
		 WHERE n % 4 <> 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `
		UPDATE apps a SET conn_state = COALESCE(c.state, 'none'), conn_team = COALESCE(c.team_slug, ''),
		       search = lower(a.name || ' ' || u.email || ' ' || COALESCE(c.project_slug, ''))
		  FROM apps a2 JOIN users u ON u.id = a2.owner_id LEFT JOIN connections c ON c.app_id = a2.id
		 WHERE a2.id = a.id`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`ALTER TABLE connections ENABLE TRIGGER connections_to_app`, `ALTER TABLE apps ENABLE TRIGGER apps_search`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
}

func TestSupportListingFiltersSearchAndPaging(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.New(t)
	ctx := context.Background()
	seedApps(t, db, 240)

	// Paging walks every app once, newest first.
	seen := map[string]bool{}
	var last *models.SupportRow
	after := ""
	for pages := 0; ; pages++ {
		rows, next, err := models.ListSupport(ctx, db, models.SupportFilter{After: after}, 50)
		if err != nil {
			t.Fatal(err)
		}
		for i := range rows {
			if seen[rows[i].AppID] {
				t.Fatalf("app %s on two pages", rows[i].AppID)
			}
			seen[rows[i].AppID] = true
			if last != nil && rows[i].CreatedAt.After(last.CreatedAt) {
				t.Fatal("not newest first")
			}
			last = &rows[i]
		}
		if next == "" {
			if pages != 4 {
				t.Fatalf("%d pages for 240 apps at 50 a page, want 5", pages+1)
			}
			break
		}
		after = next
	}
	if len(seen) != 240 {
		t.Fatalf("paging saw %d apps, want 240", len(seen))
	}

	count := func(f models.SupportFilter) (int, []models.SupportRow) {
		rows, _, err := models.ListSupport(ctx, db, f, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(rows), rows
	}
	var want int
	if err := db.Get(&want, `SELECT count(*) FROM connections WHERE state = 'failed'`); err != nil {
		t.Fatal(err)
	}
	n, rows := count(models.SupportFilter{State: "failed"})
	if n != want || n == 0 {
		t.Fatalf("failed filter: %d rows, want %d", n, want)
	}
	for _, r := range rows {
		if r.State.String != "failed" || r.Error.String == "" {
			t.Fatalf("failed filter returned %+v", r)
		}
	}
	if n, _ := count(models.SupportFilter{State: "none"}); n != 60 {
		t.Fatalf("none filter: %d, want 60", n)
	}
	if err := db.Get(&want, `SELECT count(*) FROM connections WHERE team_slug = 'team-3'`); err != nil {
		t.Fatal(err)
	}
	if n, _ := count(models.SupportFilter{Team: "team-3"}); n != want {
		t.Fatalf("team filter: %d, want %d", n, want)
	}
	if err := db.Get(&want, `SELECT count(*) FROM apps a JOIN users u ON u.id = a.owner_id WHERE u.email = 'owner7@example.com'`); err != nil {
		t.Fatal(err)
	}
	if n, _ := count(models.SupportFilter{Query: "owner7@"}); n != want {
		t.Fatalf("search by owner: %d, want %d", n, want)
	}
	if n, rows := count(models.SupportFilter{Query: "project-17"}); n < 1 || rows[0].ProjectSlug.String[:10] != "project-17" {
		t.Fatalf("search by project: %d rows", n)
	}
	if n, _ := count(models.SupportFilter{Query: "App 123"}); n != 1 {
		t.Fatalf("search by app name: %d rows, want 1", n)
	}
	if n, _ := count(models.SupportFilter{Query: "%"}); n != 0 {
		t.Fatal("a % in the search matched everything: LIKE wildcards are not escaped")
	}
	for _, bad := range []models.SupportFilter{{State: "exploded"}, {After: "garbage"}} {
		if _, _, err := models.ListSupport(ctx, db, bad, 10); models.ErrorCode(err) != models.EINVALID {
			t.Errorf("%+v: %v, want an invalid-input error", bad, err)
		}
	}
}

// With 100,000 apps the console is served by indexes: no sequential scan of
// apps for any filter, any search, any page.
func TestSupportListingUsesIndexesAt100k(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.New(t)
	seedApps(t, db, 100_000)
	ctx := context.Background()
	rows, next, err := models.ListSupport(ctx, db, models.SupportFilter{}, 50)
	if err != nil || len(rows) != 50 || next == "" {
		t.Fatalf("first page: %d rows, %v", len(rows), err)
	}
	filters := []models.SupportFilter{
		{},
		{State: "failed"},
		{State: "none"},
		{Team: "team-3"},
		{Query: "owner42@"},
		{Query: "project-99999"},
		{State: "connected", Team: "team-1", Query: "App 7"},
		{After: next},
	}
	for _, f := range filters {
		plan, err := models.ExplainSupport(ctx, db, f, 50)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(plan, "Seq Scan on apps") {
			t.Errorf("filter %+v scans apps sequentially:\n%s", f, plan)
		}
	}
}

// The copies on apps follow every change of the connection, app and owner.
func TestSupportCopiesFollowChanges(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.New(t)
	ctx := context.Background()
	u, err := models.UpsertUser(ctx, db, "1", "Ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	app, err := models.CreateApp(ctx, db, u.ID, "Tic Tac Toe", 0)
	if err != nil {
		t.Fatal(err)
	}
	copies := func() (state, team, search string) {
		t.Helper()
		row := db.QueryRowxContext(ctx, `SELECT conn_state, conn_team, search FROM apps WHERE id = $1`, app.ID)
		if err := row.Scan(&state, &team, &search); err != nil {
			t.Fatal(err)
		}
		return
	}
	if st, _, search := copies(); st != "none" || search != "tic tac toe ada@example.com " {
		t.Fatalf("new app: %q %q", st, search)
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _, _, err := models.BeginConnect(ctx, tx, app.ID, "acme", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if st, team, _ := copies(); st != "connecting" || team != "acme" {
		t.Fatalf("connecting: %q %q", st, team)
	}
	if err := models.CompleteConnection(ctx, db, app.ID, c.Attempt, models.ConnectedProject{ProjectSlug: "tic-tac-toe", TeamSlug: "acme"}); err != nil {
		t.Fatal(err)
	}
	if st, _, search := copies(); st != "connected" || !strings.HasSuffix(search, " tic-tac-toe") {
		t.Fatalf("connected: %q %q", st, search)
	}
	if err := models.RenameApp(ctx, db, u.ID, app.ID, "Noughts"); err != nil {
		t.Fatal(err)
	}
	if _, err := models.UpsertUser(ctx, db, "1", "Ada", "ada@lovelace.dev"); err != nil {
		t.Fatal(err)
	}
	if _, _, search := copies(); search != "noughts ada@lovelace.dev tic-tac-toe" {
		t.Fatalf("after rename and new email: %q", search)
	}
	tx, err = db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.Disconnect(ctx, tx, app.ID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if st, team, _ := copies(); st != "none" || team != "" {
		t.Fatalf("disconnected: %q %q", st, team)
	}
}
