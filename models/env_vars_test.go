package models_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"chefdeploy/models"
	"chefdeploy/models/dbtest"
)

// Concurrent sets cannot track more variables than the limit, and setting
// a tracked name again does not count twice.
func TestTrackEnvVarLimit(t *testing.T) {
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
	const limit = 3
	errs := make([]error, 12)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = models.TrackEnvVar(ctx, db, u.ID, app.ID, "set", fmt.Sprintf("V%d", i), limit) })
	}
	wg.Wait()
	refused := 0
	for _, err := range errs {
		switch {
		case err == nil:
		case models.ErrorCode(err) == models.EINVALID:
			refused++
		default:
			t.Fatal(err)
		}
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM app_env_vars WHERE app_id = $1`, app.ID); err != nil {
		t.Fatal(err)
	}
	if n != limit || refused != len(errs)-limit {
		t.Fatalf("%d tracked and %d refused, want %d and %d", n, refused, limit, len(errs)-limit)
	}
	var tracked string
	if err := db.Get(&tracked, `SELECT name FROM app_env_vars WHERE app_id = $1 LIMIT 1`, app.ID); err != nil {
		t.Fatal(err)
	}
	if err := models.TrackEnvVar(ctx, db, u.ID, app.ID, "set", tracked, limit); err != nil {
		t.Fatalf("setting a tracked name again at the limit: %v", err)
	}
}
