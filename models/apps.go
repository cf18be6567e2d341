package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// MaxAppNameLength bounds an app's name; it becomes the Convex project name.
const MaxAppNameLength = 60

// App is one user's generated application.
type App struct {
	ID             string       `db:"id"`
	OwnerID        string       `db:"owner_id"`
	Slug           string       `db:"slug"`
	Name           string       `db:"name"`
	LastDeployedAt sql.NullTime `db:"last_deployed_at"`
	CreatedAt      time.Time    `db:"created_at"`
	UpdatedAt      time.Time    `db:"updated_at"`
}

const appColumns = `a.id, a.owner_id, a.slug, a.name, a.last_deployed_at, a.created_at, a.updated_at`

// AppForm is the form that creates or renames an app.
type AppForm struct {
	Name string
}

// Validate returns a message per field that is wrong; empty when all is well.
func (f *AppForm) Validate() map[string]string {
	// Checked before white space is collapsed: a line separator is white space.
	valid := ValidName(f.Name)
	f.Name = strings.Join(strings.Fields(f.Name), " ")
	errs := map[string]string{}
	switch {
	case !valid:
		f.Name = WithoutUnusable(f.Name) // the form shows what it would accept
		errs["name"] = UnusableMessage("name")
	case f.Name == "":
		errs["name"] = "Give your app a name."
	case utf8.RuneCountInString(f.Name) > MaxAppNameLength:
		errs["name"] = fmt.Sprintf("Keep the name to %d characters or fewer.", MaxAppNameLength)
	case slugify(f.Name) == "":
		errs["name"] = "Use at least one letter or digit in the name."
	}
	return errs
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// slugify makes the human part of an app's URL from its name: "Tic Tac Toe!"
// becomes "tic-tac-toe".
func slugify(name string) string {
	s := strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(s) > 48 {
		s = strings.TrimRight(s[:48], "-")
	}
	return s
}

// slugSuffixTries is how many random suffixes CreateApp tries when the
// name's own slug is taken; with 36^6 suffixes, a second try is already rare.
const slugSuffixTries = 5

// CreateApp stores a new app with a slug unique among its owner's apps, as
// long as the owner has fewer than maxApps (no limit when maxApps <= 0), and
// records app_created, in one transaction. The slug is the name's, or, when
// that is taken, the name's with a short random suffix
// ("tic-tac-toe-k3x9q2"): a few inserts at most, however many apps share the
// name. The owner's creates take turns on their user row, so the limit holds
// across replicas and concurrent requests.
func CreateApp(ctx context.Context, db *sqlx.DB, ownerID, name string, maxApps int) (App, error) {
	// A user at the limit is told so without queueing for the lock: a flood
	// of creates past it costs one count each.
	if maxApps > 0 {
		var count int
		if err := db.GetContext(ctx, &count, `SELECT count(*) FROM apps WHERE owner_id = $1`, ownerID); err != nil {
			return App{}, err
		}
		if count >= maxApps {
			return App{}, appLimitReached(count)
		}
	}
	var a App
	err := InTx(ctx, db, func(tx *sqlx.Tx) error {
		// Two statements: a count in the locking statement would read the
		// snapshot from before the lock was granted, missing the apps of the
		// create that held it.
		if err := oneRow(tx.ExecContext(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, ownerID)); err != nil {
			return err
		}
		var count int
		if err := tx.GetContext(ctx, &count, `SELECT count(*) FROM apps WHERE owner_id = $1`, ownerID); err != nil {
			return err
		}
		if maxApps > 0 && count >= maxApps {
			return appLimitReached(count)
		}
		var err error
		if a, err = insertApp(ctx, tx, ownerID, name); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, ownerID, a.ID, EventAppCreated, a.Name)
	})
	return a, err
}

func insertApp(ctx context.Context, tx *sqlx.Tx, ownerID, name string) (App, error) {
	base := slugify(name)
	slug := base
	for try := 0; try <= slugSuffixTries; try++ {
		if try > 0 {
			slug = base + "-" + randomSuffix()
		}
		var a App
		err := tx.GetContext(ctx, &a, `
			INSERT INTO apps (owner_id, slug, name) VALUES ($1, $2, $3)
			ON CONFLICT (owner_id, slug) DO NOTHING
			RETURNING id, owner_id, slug, name, last_deployed_at, created_at, updated_at`,
			ownerID, slug, name)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		return a, err
	}
	return App{}, fmt.Errorf("no free slug for %q after %d random suffixes", base, slugSuffixTries)
}

// appLimitReached is the refusal of a create by a user with count apps.
func appLimitReached(count int) error {
	return Errorf(EINVALID, "You have %d apps, the most one account may have. Delete an app you no longer need to make room for a new one.", count)
}

// randomSuffix is six random lowercase letters and digits.
func randomSuffix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// slugShape is every slug CreateApp can make (and more); a ref of any other
// shape cannot name an app.
var slugShape = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// AppByRef finds one of the owner's apps by id or slug. Another user's app is
// ErrNotFound, exactly like a missing one, and so is a ref that is neither a
// UUID nor shaped like a slug, without asking the database.
func AppByRef(ctx context.Context, db sqlx.ExtContext, ownerID, ref string) (App, error) {
	var a App
	var err error
	if _, perr := uuid.Parse(ref); perr == nil {
		err = sqlx.GetContext(ctx, db, &a, `SELECT `+appColumns+` FROM apps a WHERE a.id = $1 AND a.owner_id = $2`, ref, ownerID)
	} else if len(ref) > 64 || !slugShape.MatchString(ref) {
		return a, ErrNotFound
	} else {
		err = sqlx.GetContext(ctx, db, &a, `SELECT `+appColumns+` FROM apps a WHERE a.slug = $1 AND a.owner_id = $2`, ref, ownerID)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}

// RenameApp changes an app's name, its slug and so its URLs staying, and
// records app_renamed, in one transaction.
func RenameApp(ctx context.Context, db *sqlx.DB, ownerID, appID, name string) error {
	return InTx(ctx, db, func(tx *sqlx.Tx) error {
		var old string
		err := sqlx.GetContext(ctx, tx, &old, `SELECT name FROM apps WHERE id = $1 AND owner_id = $2 FOR UPDATE`, appID, ownerID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE apps SET name = $3, updated_at = now() WHERE id = $1 AND owner_id = $2`, appID, ownerID, name)
		if err := oneRow(res, err); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, ownerID, appID, EventAppRenamed, old+" → "+name)
	})
}

// DuplicateName reports whether an older app of the owner has the app's
// name (case aside), and a free name to suggest instead: "{name} 2", or the
// first such number not taken. suggestion is "" when the name is no
// duplicate.
func DuplicateName(ctx context.Context, db sqlx.QueryerContext, appID, name string) (suggestion string, err error) {
	var rows []struct {
		Name  string `db:"name"`
		Older bool   `db:"older"`
	}
	err = sqlx.SelectContext(ctx, db, &rows, `
		SELECT lower(name) AS name, created_at <= (SELECT created_at FROM apps WHERE id = $1) AS older
		FROM apps
		WHERE owner_id = (SELECT owner_id FROM apps WHERE id = $1) AND id <> $1
		  AND left(lower(name), length($2)) = lower($2)`, appID, name)
	if err != nil {
		return "", err
	}
	taken, duplicate := map[string]bool{}, false
	for _, r := range rows {
		taken[r.Name] = true
		duplicate = duplicate || (r.Older && r.Name == strings.ToLower(name))
	}
	if !duplicate {
		return "", nil
	}
	for n := 2; ; n++ {
		if s := name + " " + strconv.Itoa(n); !taken[strings.ToLower(s)] {
			return s, nil
		}
	}
}

// ErrAppConnecting refuses to delete an app while an attempt to connect it
// runs: the project the attempt may be creating would lose its app, and with
// it the reconcile that deletes an unused one.
var ErrAppConnecting = Errorf(ECONFLICT, "This app is connecting to Convex. Wait until it is connected or has failed, or disconnect it, then delete it.")

// DeleteApp removes an app with its connection and credentials and records
// app_deleted, in one transaction; ErrAppConnecting while it is connecting.
func DeleteApp(ctx context.Context, db *sqlx.DB, ownerID, appID string) error {
	return InTx(ctx, db, func(tx *sqlx.Tx) error {
		// The app's row, then its connection's, are locked: a connect that
		// starts meanwhile either is seen here or finds the app gone.
		var name string
		err := sqlx.GetContext(ctx, tx, &name, `SELECT name FROM apps WHERE id = $1 AND owner_id = $2 FOR UPDATE`, appID, ownerID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var connecting bool
		if err := sqlx.GetContext(ctx, tx, &connecting, `
			SELECT EXISTS (SELECT 1 FROM connections WHERE app_id = $1 AND state = 'connecting' FOR UPDATE)`, appID); err != nil {
			return err
		}
		if connecting {
			return ErrAppConnecting
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM apps WHERE id = $1`, appID)
		if err := oneRow(res, err); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, ownerID, appID, EventAppDeleted, name)
	})
}

func oneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// AppSummary is an app with its connection, as the dashboard lists it.
type AppSummary struct {
	App
	State          sql.NullString `db:"state"`
	TeamSlug       sql.NullString `db:"team_slug"`
	ProjectSlug    sql.NullString `db:"project_slug"`
	DeploymentName sql.NullString `db:"deployment_name"`
	DeadlineAt     sql.NullTime   `db:"deadline_at"`
}

// ListApps returns the owner's apps, newest first.
func ListApps(ctx context.Context, db sqlx.ExtContext, ownerID string) ([]AppSummary, error) {
	var apps []AppSummary
	err := sqlx.SelectContext(ctx, db, &apps, `
		SELECT `+appColumns+`, c.state, c.team_slug, c.project_slug, c.deployment_name, c.deadline_at
		  FROM apps a LEFT JOIN connections c ON c.app_id = a.id
		 WHERE a.owner_id = $1
		 ORDER BY a.created_at DESC, a.id
		 LIMIT 500`, ownerID)
	return apps, err
}
