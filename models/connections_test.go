package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"chefdeploy/models"
	"chefdeploy/models/dbtest"
)

// A Connect after the deadline passed, before any worker wrote the failure,
// starts a new attempt, records the old one's end once, and leaves the old
// worker's late updates with nothing to change.
func TestBeginConnectSupersedesAnExpiredAttempt(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.New(t)
	ctx := context.Background()
	u, err := models.UpsertUser(ctx, db, "1", "Ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	app, err := models.CreateApp(ctx, db, u.ID, "App")
	if err != nil {
		t.Fatal(err)
	}
	begin := func() (models.Connection, bool) {
		t.Helper()
		tx, err := db.BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		c, started, err := models.BeginConnect(ctx, tx, app.ID, "acme", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		return c, started
	}
	first, started := begin()
	if !started || first.Attempt != 1 {
		t.Fatalf("first Connect: attempt %d, started %v", first.Attempt, started)
	}
	if again, started := begin(); started || again.Attempt != 1 {
		t.Fatal("a Connect within the deadline started a new attempt")
	}
	if _, err := db.Exec(`UPDATE connections SET deadline_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	second, started := begin()
	if !started || second.Attempt != 2 {
		t.Fatalf("Connect after the deadline: attempt %d, started %v", second.Attempt, started)
	}
	var fired int
	if err := db.Get(&fired, `SELECT count(*) FROM events WHERE kind = 'deadline_fired' AND app_id = $1`, app.ID); err != nil {
		t.Fatal(err)
	}
	if fired != 1 {
		t.Fatalf("%d deadline_fired events, want 1", fired)
	}
	if err := models.FailConnection(ctx, db, app.ID, first.Attempt, models.DeadlineMessage); !errors.Is(err, models.ErrStale) {
		t.Fatalf("the old worker's late failure: %v, want ErrStale", err)
	}
	if err := models.CompleteConnection(ctx, db, app.ID, first.Attempt, models.ConnectedProject{}); !errors.Is(err, models.ErrStale) {
		t.Fatalf("the old worker's late success: %v, want ErrStale", err)
	}
}
