// Package dbtest gives each test its own PostgreSQL database, copied from a
// template that has every migration applied, so database tests run in parallel
// against the real server without seeing each other's rows.
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"

	"chefdeploy/migrations"
	"chefdeploy/models"
)

// templateOnce builds (or finds) the template once per test binary.
var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// adminURL is the database the tests may create databases from: make test
// sets DATABASE_URL to it.
func adminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		t.Fatal("DATABASE_URL is not set: run the tests with `make test`, which brings up PostgreSQL")
	}
	return u
}

// New returns a connection to a fresh, migrated database that is dropped when
// the test ends, and that database's URL.
func New(t testing.TB) (*sqlx.DB, string) {
	t.Helper()
	admin := adminURL(t)
	templateOnce.Do(func() { templateName, templateErr = buildTemplate(admin) })
	if templateErr != nil {
		t.Fatalf("preparing the template database: %v", templateErr)
	}
	adminDB, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer adminDB.Close()

	name := "chefdeploy_t_" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := adminDB.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, templateName)); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	dbURL := withDatabase(t, admin, name)
	db, err := models.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		drop, err := sql.Open("postgres", admin)
		if err != nil {
			return
		}
		defer drop.Close()
		drop.Exec(fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name))
	})
	return db, dbURL
}

// buildTemplate makes the migrated template database, named by a hash of the
// migrations so that a changed migration gets a new template. Test binaries of
// several packages run at once; an advisory lock lets one of them build it.
func buildTemplate(admin string) (string, error) {
	name := "chefdeploy_tmpl_" + migrationsHash()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adminDB, err := sql.Open("postgres", admin)
	if err != nil {
		return "", err
	}
	defer adminDB.Close()
	conn, err := adminDB.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(727274)`); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(727274)`)

	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_b"
	conn.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, building))
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s`, building)); err != nil {
		return "", err
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", err
	}
	u.Path = "/" + building
	db, err := models.Open(ctx, u.String())
	if err != nil {
		return "", err
	}
	err = models.Migrate(ctx, db.DB)
	db.Close()
	if err != nil {
		return "", err
	}
	// Renamed only once complete, so a half-built template is never used.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, name)); err != nil {
		return "", err
	}
	return name, nil
}

func migrationsHash() string {
	h := sha256.New()
	fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := migrations.FS.ReadFile(path)
		fmt.Fprintf(h, "%s\x00%s\x00", path, b)
		return nil
	})
	fmt.Fprint(h, riverVersion)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func withDatabase(t testing.TB, admin, name string) string {
	t.Helper()
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
