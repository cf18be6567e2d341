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
		ran := make(chan error, 1)
		go func() { ran <- c.Run(ctx, dbURL) }()
		waitListening(t, c, ran)
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

// Whatever ends or changes a session reaches every replica's cache at once,
// not after the cache's safety ttl: a session deleted by hand, with its user,
// or by TRUNCATE, one whose expiry is cut short, and a user's new name.
func TestSessionCacheHearsEveryChange(t *testing.T) {
	t.Parallel()
	db, dbURL := dbtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := models.NewSessionCache(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ran := make(chan error, 1)
	go func() { ran <- c.Run(ctx, dbURL) }()
	waitListening(t, c, ran)
	// Well under the ttl: only a notification can make it in time.
	within := models.SessionCacheTTL / 20
	cached := func(sid string) models.SessionWithUser {
		t.Helper()
		s, err := c.Get(ctx, sid)
		if err != nil {
			t.Fatalf("Get(%s): %v", sid, err)
		}
		if _, err := c.Get(ctx, sid); err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the cache still served the old copy after %v", what, within)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	gone := func(sid string) func() bool {
		return func() bool { _, err := c.Get(ctx, sid); return errors.Is(err, models.ErrNotFound) }
	}

	ada, err := models.UpsertUser(ctx, db, "2001", "Ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := models.UpsertUser(ctx, db, "2002", "Bob", "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for sid, user := range map[string]string{"by-hand": ada.ID, "cut-short": ada.ID, "renamed": ada.ID, "with-user": bob.ID, "truncated": ada.ID} {
		if err := models.CreateSession(ctx, db, sid, user, "sealed"); err != nil {
			t.Fatal(err)
		}
	}

	cached("by-hand")
	if _, err := db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, models.HashSessionID("by-hand")); err != nil {
		t.Fatal(err)
	}
	waitFor("a session deleted by hand", gone("by-hand"))

	cached("cut-short")
	if _, err := db.ExecContext(ctx, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id_hash = $1`, models.HashSessionID("cut-short")); err != nil {
		t.Fatal(err)
	}
	waitFor("a session whose expiry was cut short", gone("cut-short"))

	if s := cached("renamed"); s.User.Name != "Ada" {
		t.Fatalf("name = %q", s.User.Name)
	}
	if _, err := db.ExecContext(ctx, `UPDATE users SET name = 'Ada Lovelace' WHERE id = $1`, ada.ID); err != nil {
		t.Fatal(err)
	}
	waitFor("a renamed user", func() bool { s, err := c.Get(ctx, "renamed"); return err == nil && s.User.Name == "Ada Lovelace" })

	cached("with-user")
	if _, err := db.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, bob.ID); err != nil {
		t.Fatal(err)
	}
	waitFor("a session deleted with its user", gone("with-user"))

	cached("truncated")
	if _, err := db.ExecContext(ctx, `TRUNCATE sessions`); err != nil {
		t.Fatal(err)
	}
	waitFor("a truncated sessions table", gone("truncated"))

	// The sliding expiry's touch and a connect's token write are no news:
	// they leave the copy in place. A session ended after them is a
	// marker: notifications arrive in commit order, so once the cache has
	// dropped it, it has heard whatever the writes before it announced.
	for _, sid := range []string{"quiet", "marker"} {
		if err := models.CreateSession(ctx, db, sid, ada.ID, "sealed"); err != nil {
			t.Fatal(err)
		}
		cached(sid)
	}
	if _, err := db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = now(), expires_at = expires_at + interval '1 hour' WHERE id_hash = $1`, models.HashSessionID("quiet")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE users SET convex_token = 'sealed-2', selected_team = 'acme', updated_at = now() WHERE id = $1`, ada.ID); err != nil {
		t.Fatal(err)
	}
	if err := models.DeleteSession(ctx, db, "marker"); err != nil {
		t.Fatal(err)
	}
	waitFor("the marker session", gone("marker"))
	_, before := c.Stats()
	cached("quiet")
	if _, after := c.Stats(); after != before {
		t.Fatalf("a touch or a token write dropped the cached session: %d more queries", after-before)
	}
}

// waitListening waits, with a deadline, until c serves from memory; ran
// carries Run's end, which fails the test if it comes first.
func waitListening(t *testing.T, c *models.SessionCache, ran <-chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !c.Listening() {
		select {
		case err := <-ran:
			t.Fatalf("the cache stopped before it listened: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache was not listening after 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
