package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
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

// CreateApp stores a new app with a slug unique among its owner's apps.
func CreateApp(ctx context.Context, db sqlx.ExtContext, ownerID, name string) (App, error) {
	base := slugify(name)
	for n := 1; n <= 1000; n++ {
		slug := base
		if n > 1 {
			slug = fmt.Sprintf("%s-%d", base, n)
		}
		var a App
		err := sqlx.GetContext(ctx, db, &a, `
			INSERT INTO apps (owner_id, slug, name) VALUES ($1, $2, $3)
			ON CONFLICT (owner_id, slug) DO NOTHING
			RETURNING id, owner_id, slug, name, last_deployed_at, created_at, updated_at`,
			ownerID, slug, name)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		return a, err
	}
	return App{}, Errorf(ECONFLICT, "You have too many apps with this name.")
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

// RenameApp changes an app's name; its slug, and so its URLs, stay.
func RenameApp(ctx context.Context, db sqlx.ExtContext, ownerID, appID, name string) error {
	res, err := db.ExecContext(ctx, `UPDATE apps SET name = $3, updated_at = now() WHERE id = $1 AND owner_id = $2`, appID, ownerID, name)
	return oneRow(res, err)
}

// DeleteApp removes an app with its connection and credentials.
func DeleteApp(ctx context.Context, db sqlx.ExtContext, ownerID, appID string) error {
	res, err := db.ExecContext(ctx, `DELETE FROM apps WHERE id = $1 AND owner_id = $2`, appID, ownerID)
	return oneRow(res, err)
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
