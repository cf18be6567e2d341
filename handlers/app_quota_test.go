package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"chefdeploy/handlers/webtest"
)

// TestAppQuotaHoldsAcrossReplicas sends 40 concurrent creates of one name,
// half through each of two replicas, to a user allowed 5 apps: exactly 5
// are made, each with its own slug, and every other create is a 422 that
// says why.
func TestAppQuotaHoldsAcrossReplicas(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada", withEnv("MAX_APPS_PER_USER", "5"))
	other := httptest.NewServer(b.newHandler(b.cfg))
	t.Cleanup(other.Close)

	const creates = 40
	statuses := make([]int, creates)
	bodies := make([]string, creates)
	errs := make([]error, creates)
	var wg sync.WaitGroup
	for i := range creates {
		base := b.app.URL
		if i%2 == 1 {
			base = other.URL
		}
		wg.Go(func() {
			res, err := webtest.Send(c, "POST", base+"/apps", url.Values{"name": {"Same name"}})
			statuses[i], bodies[i], errs[i] = res.Status, res.Body, err
		})
	}
	wg.Wait()
	made := 0
	for i := range creates {
		switch {
		case errs[i] != nil:
			t.Fatal(errs[i])
		case statuses[i] == http.StatusSeeOther:
			made++
		case statuses[i] != http.StatusUnprocessableEntity || !strings.Contains(bodies[i], "the most one account may have"):
			t.Errorf("create %d = %d, want 303 or a 422 naming the limit:\n%.1000s", i, statuses[i], bodies[i])
		}
	}
	var apps, slugs int
	if err := b.db.QueryRow(`SELECT count(*), count(DISTINCT slug) FROM apps`).Scan(&apps, &slugs); err != nil {
		t.Fatal(err)
	}
	if made != 5 || apps != 5 || slugs != 5 {
		t.Fatalf("%d creates answered 303 and %d apps (%d slugs) exist; want exactly 5", made, apps, slugs)
	}
	// Deleting one makes room for one more.
	var id string
	if err := b.db.Get(&id, `SELECT id FROM apps LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	if res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/delete", url.Values{}); res.Status != http.StatusOK {
		t.Fatalf("delete = %d", res.Status)
	}
	b.createApp(t, c, "Same name")
}

// TestCreateAppWithATakenNameIsConstantWork has a user who already holds
// the slug of a name and the next thousand numbered ones: a new app of that
// name is made at once, with a slug of its own.
func TestCreateAppWithATakenNameIsConstantWork(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada", withEnv("MAX_APPS_PER_USER", "2000"))
	first := b.createApp(t, c, "Same name")
	if _, err := b.db.Exec(`
		INSERT INTO apps (owner_id, slug, name)
		SELECT owner_id, 'same-name-' || n, name FROM apps, generate_series(2, 1001) n WHERE id = $1`, first); err != nil {
		t.Fatal(err)
	}
	id := b.createApp(t, c, "Same name")
	var slug string
	if err := b.db.Get(&slug, `SELECT slug FROM apps WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(slug, "same-name-") || len(slug) > 64 {
		t.Fatalf("slug = %q", slug)
	}
}
