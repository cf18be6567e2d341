package models_test

import (
	"context"
	"errors"
	"testing"

	"chefdeploy/models"
	"chefdeploy/models/dbtest"
)

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.New(t)
	ctx := context.Background()

	u, err := models.UpsertUser(ctx, db, "1001", "Ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	again, err := models.UpsertUser(ctx, db, "1001", "Ada Lovelace", "ada@example.com")
	if err != nil || again.ID != u.ID || again.Name != "Ada Lovelace" {
		t.Fatalf("upsert of the same Convex id must update the same user: %+v %v", again, err)
	}

	if err := models.CreateSession(ctx, db, "sid-1", u.ID, "v1.k.sealed"); err != nil {
		t.Fatal(err)
	}
	s, err := models.SessionByID(ctx, db, "sid-1")
	if err != nil || s.User.Email != "ada@example.com" || s.ConvexToken != "v1.k.sealed" {
		t.Fatalf("SessionByID = %+v, %v", s, err)
	}
	if _, err := models.SessionByID(ctx, db, "sid-2"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("unknown session: %v, want ErrNotFound", err)
	}
	var stored int
	if err := db.GetContext(ctx, &stored, `SELECT count(*) FROM sessions WHERE id_hash = convert_to('sid-1', 'UTF8')`); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Fatal("the raw session id is stored")
	}
	if err := models.DeleteSession(ctx, db, "sid-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := models.SessionByID(ctx, db, "sid-1"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("deleted session still found: %v", err)
	}

	if err := models.CreateSession(ctx, db, "sid-old", u.ID, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE sessions SET expires_at = now() - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	if _, err := models.SessionByID(ctx, db, "sid-old"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("expired session still found: %v", err)
	}
	if n, err := models.DeleteExpiredSessions(ctx, db); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions = %d, %v", n, err)
	}
}

func TestLoginStateWorksOnce(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.New(t)
	ctx := context.Background()

	if err := models.UseLoginState(ctx, db, "state-1"); err != nil {
		t.Fatal(err)
	}
	if err := models.UseLoginState(ctx, db, "state-1"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("replayed state accepted: %v", err)
	}
	if err := models.UseLoginState(ctx, db, "state-2"); err != nil {
		t.Fatalf("another state refused: %v", err)
	}
	// Used states are forgotten once the cookie would refuse them anyway.
	if _, err := db.ExecContext(ctx, `UPDATE login_attempts SET created_at = now() - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	if err := models.UseLoginState(ctx, db, "state-3"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM login_attempts`); err != nil || n != 1 {
		t.Fatalf("login_attempts rows = %d, %v; want only the fresh one", n, err)
	}
}
