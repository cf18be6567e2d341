package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"chefdeploy/models"
	"chefdeploy/models/dbtest"
)

func inTestTx(t *testing.T, db *sqlx.DB, fn func(tx *sqlx.Tx) error) error {
	t.Helper()
	tx, err := db.BeginTxx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// A Connect after the deadline passed, before anything recorded the failure,
// starts a new attempt and hands back the expired one, and leaves the old
// worker's late updates with nothing to change.
func TestBeginConnectSupersedesAnExpiredAttempt(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.New(t)
	ctx := context.Background()
	u, err := models.UpsertUser(ctx, db, "1", "Ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	app, err := models.CreateApp(ctx, db, u.ID, "App", 0)
	if err != nil {
		t.Fatal(err)
	}
	begin := func() (c models.Connection, started bool, expired *models.Connection) {
		t.Helper()
		if err := inTestTx(t, db, func(tx *sqlx.Tx) (err error) {
			c, started, expired, err = models.BeginConnect(ctx, tx, app.ID, "acme", time.Minute)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return c, started, expired
	}
	first, started, expired := begin()
	if !started || first.Attempt != 1 || expired != nil {
		t.Fatalf("first Connect: attempt %d, started %v, expired %v", first.Attempt, started, expired)
	}
	if again, started, _ := begin(); started || again.Attempt != 1 {
		t.Fatal("a Connect within the deadline started a new attempt")
	}
	if _, err := db.Exec(`UPDATE connections SET deadline_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	second, started, expired := begin()
	if !started || second.Attempt != 2 {
		t.Fatalf("Connect after the deadline: attempt %d, started %v", second.Attempt, started)
	}
	if expired == nil || expired.Attempt != 1 {
		t.Fatalf("the superseded attempt was not handed back: %+v", expired)
	}
	err = inTestTx(t, db, func(tx *sqlx.Tx) error {
		_, err := models.FailConnection(ctx, tx, app.ID, first.Attempt, models.DeadlineMessage)
		return err
	})
	if !errors.Is(err, models.ErrStale) {
		t.Fatalf("the old worker's late failure: %v, want ErrStale", err)
	}
	if err := models.CompleteConnection(ctx, db, app.ID, first.Attempt, models.ConnectedProject{}); !errors.Is(err, models.ErrStale) {
		t.Fatalf("the old worker's late success: %v, want ErrStale", err)
	}
}

// Attempt 0 fails whichever attempt is connecting (support's case); a
// connection that is not connecting is stale.
func TestFailConnectionAnyAttempt(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.New(t)
	ctx := context.Background()
	u, err := models.UpsertUser(ctx, db, "1", "Ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	app, err := models.CreateApp(ctx, db, u.ID, "App", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := inTestTx(t, db, func(tx *sqlx.Tx) error {
		_, _, _, err := models.BeginConnect(ctx, tx, app.ID, "acme", time.Minute)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	fail := func() error {
		return inTestTx(t, db, func(tx *sqlx.Tx) error {
			_, err := models.FailConnection(ctx, tx, app.ID, 0, "Marked failed by support: stuck")
			return err
		})
	}
	if err := fail(); err != nil {
		t.Fatal(err)
	}
	c, err := models.ConnectionByApp(ctx, db, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != models.StateFailed || c.Error != "Marked failed by support: stuck" {
		t.Fatalf("after failing: %s %q", c.State, c.Error)
	}
	if err := fail(); !errors.Is(err, models.ErrStale) {
		t.Fatalf("failing a failed connection: %v, want ErrStale", err)
	}
}
