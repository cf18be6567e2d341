package models_test

import (
	"context"
	"testing"

	"chefdeploy/models"
	"chefdeploy/models/dbtest"
)

// Picking the team a user already has writes nothing: every completed
// connect records its team, and a write would lock the user's row until
// the connect's transaction ends, one connect after another.
func TestSelectTeamWritesOnlyAChange(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.New(t)
	ctx := context.Background()
	u, err := models.UpsertUser(ctx, db, "3001", "Ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	version := func() string {
		t.Helper()
		var xmin string
		if err := db.GetContext(ctx, &xmin, `SELECT xmin::text FROM users WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		return xmin
	}
	if err := models.SelectTeam(ctx, db, u.ID, "acme"); err != nil {
		t.Fatal(err)
	}
	first := version()
	if err := models.SelectTeam(ctx, db, u.ID, "acme"); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != first {
		t.Errorf("the same team wrote a new row version (xmin %s -> %s)", first, v)
	}
	if err := models.SelectTeam(ctx, db, u.ID, "globex"); err != nil {
		t.Fatal(err)
	}
	var team string
	if err := db.GetContext(ctx, &team, `SELECT selected_team FROM users WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	if team != "globex" || version() == first {
		t.Errorf("a new team: selected_team = %q, version moved: %v", team, version() != first)
	}
}
