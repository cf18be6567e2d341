package dbtest

import (
	"testing"

	"github.com/jmoiron/sqlx"
)

// RefuseEvents makes the test's database refuse to record audit events of the
// given kinds, as a full disk or a broken constraint would: an insert of one
// raises an error. It must only be used on a database from New.
func RefuseEvents(t testing.TB, db *sqlx.DB, kinds ...string) {
	t.Helper()
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS refused_event_kinds (kind text PRIMARY KEY)`,
		`CREATE OR REPLACE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN
		     IF EXISTS (SELECT 1 FROM refused_event_kinds WHERE kind = NEW.kind) THEN
		         RAISE EXCEPTION 'the test refuses % events', NEW.kind;
		     END IF;
		     RETURN NEW;
		 END $$`,
		`DROP TRIGGER IF EXISTS refuse_events ON events`,
		`CREATE TRIGGER refuse_events BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_event()`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("refusing events: %v", err)
		}
	}
	for _, k := range kinds {
		if _, err := db.Exec(`INSERT INTO refused_event_kinds (kind) VALUES ($1) ON CONFLICT DO NOTHING`, k); err != nil {
			t.Fatalf("refusing %s events: %v", k, err)
		}
	}
}
