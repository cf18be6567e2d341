package models_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"chefdeploy/models"
	"chefdeploy/models/dbtest"
)

func TestSessionCache(t *testing.T) {
	t.Parallel()
	db, dbURL := dbtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Two replicas, each with its own cache.
	replicas := []*models.SessionCache{models.NewSessionCache(db, logger), models.NewSessionCache(db, logger)}
	for _, c := range replicas {
		go c.Run(ctx, dbURL)
		for !c.Listening() {
			time.Sleep(5 * time.Millisecond)
		}
	}
	a, b := replicas[0], replicas[1]

	u, err := models.UpsertUser(ctx, db, "1001", "Ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := models.CreateSession(ctx, db, "sid-1", u.ID, "sealed"); err != nil {
		t.Fatal(err)
	}
	for _, c := range replicas {
		for range 2 {
			if s, err := c.Get(ctx, "sid-1"); err != nil || s.User.Email != "ada@example.com" {
				t.Fatalf("Get = %+v, %v", s, err)
			}
		}
		if hits, misses := c.Stats(); hits != 1 || misses != 1 {
			t.Fatalf("hits, misses = %d, %d; want one query, then memory", hits, misses)
		}
	}
	if _, err := a.Get(ctx, "sid-2"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}

	// Replica a ends the session; b hears of it by NOTIFY.
	if err := models.DeleteSession(ctx, db, "sid-1"); err != nil {
		t.Fatal(err)
	}
	a.Invalidate("sid-1")
	if _, err := a.Get(ctx, "sid-1"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("ended session on its own replica: %v", err)
	}
	deadline := time.Now().Add(models.SessionCacheTTL / 2)
	for {
		_, err := b.Get(ctx, "sid-1")
		if errors.Is(err, models.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other replica still has the ended session: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A cached session still ends at its expiry.
	if err := models.CreateSession(ctx, db, "sid-3", u.ID, "sealed"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE sessions SET expires_at = now() + interval '200 milliseconds'`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "sid-3"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := a.Get(ctx, "sid-3"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("expired session served from memory: %v", err)
	}

	// Without a listener nothing is served from memory.
	cold := models.NewSessionCache(db, logger)
	if err := models.CreateSession(ctx, db, "sid-4", u.ID, "sealed"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := cold.Get(ctx, "sid-4"); err != nil {
			t.Fatal(err)
		}
	}
	if hits, misses := cold.Stats(); hits != 0 || misses != 2 {
		t.Fatalf("cache without LISTEN: hits, misses = %d, %d", hits, misses)
	}
}
