package models_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"chefdeploy/credentials"
	"chefdeploy/models"
	"chefdeploy/models/dbtest"
)

func testKeyring(t *testing.T, id string) *credentials.Keyring {
	t.Helper()
	ring, err := credentials.ParseKeyring(credentials.GenerateSpec(id))
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func countAuthKeys(t *testing.T, db sqlx.QueryerContext) int {
	t.Helper()
	n, err := models.CountAuthKeys(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Takers running at once never get the same key, each key taken is gone,
// and an empty stock says ErrNotFound.
func TestTakeAuthKeyHandsEachKeyOutOnce(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.New(t)
	ctx := t.Context()
	ring := testKeyring(t, "k1")
	const stocked = 20
	for range stocked {
		der := make([]byte, 64) // the model stores bytes; only jobs parses them
		rand.Read(der)
		if err := models.StockAuthKey(ctx, db, ring, der); err != nil {
			t.Fatal(err)
		}
	}
	if n := countAuthKeys(t, db); n != stocked {
		t.Fatalf("count = %d after stocking %d", n, stocked)
	}

	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				der, err := models.TakeAuthKey(ctx, db, ring)
				if errors.Is(err, models.ErrNotFound) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[string(der)] {
					t.Errorf("key %x taken twice", der[:8])
				}
				seen[string(der)] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != stocked {
		t.Fatalf("%d distinct keys taken, want %d", len(seen), stocked)
	}
	if n := countAuthKeys(t, db); n != 0 {
		t.Fatalf("%d keys left after every one was taken", n)
	}
}

// The stored value is sealed: neither the DER nor its PEM body is in it, and
// it opens only for the stock's purpose.
func TestStockedAuthKeyIsSealed(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.New(t)
	ring := testKeyring(t, "k1")
	der := bytes.Repeat([]byte("plaintext-der-"), 8)
	if err := models.StockAuthKey(t.Context(), db, ring, der); err != nil {
		t.Fatal(err)
	}
	var sealed []byte
	if err := db.Get(&sealed, `SELECT sealed_key FROM auth_key_stock`); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, der) || bytes.Contains(sealed, []byte("cGxhaW50ZXh0LWRlci")) || !strings.HasPrefix(string(sealed), "v1.k1.") {
		t.Fatalf("the stored key is not sealed: %.40q", sealed)
	}
	if _, err := ring.Open(string(sealed), "deploy-key:x"); err == nil {
		t.Fatal("the stocked key opened under another purpose")
	}
	if got, err := ring.Open(string(sealed), models.AuthKeyPurpose); err != nil || !bytes.Equal(got, der) {
		t.Fatalf("the stocked key does not open for its purpose: %v", err)
	}
}

// A key sealed under a key no longer in the ring is discarded, and the next
// one is taken.
func TestTakeAuthKeyDiscardsKeysThatDoNotOpen(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.New(t)
	ctx := t.Context()
	gone, ring := testKeyring(t, "gone"), testKeyring(t, "k1")
	for _, k := range []struct {
		ring *credentials.Keyring
		der  string
	}{{gone, "lost-1"}, {gone, "lost-2"}, {ring, "good"}} {
		if err := models.StockAuthKey(ctx, db, k.ring, []byte(k.der)); err != nil {
			t.Fatal(err)
		}
	}
	der, err := models.TakeAuthKey(ctx, db, ring)
	if err != nil || string(der) != "good" {
		t.Fatalf("TakeAuthKey = %q, %v; want the one key that opens", der, err)
	}
	if n := countAuthKeys(t, db); n != 0 {
		t.Fatalf("%d keys left: the ones that do not open should be gone", n)
	}
	if _, err := models.TakeAuthKey(ctx, db, ring); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("TakeAuthKey on an empty stock = %v, want ErrNotFound", err)
	}
}
