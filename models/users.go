package models

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
)

// User is a person signed in with Convex.
type User struct {
	ID        string    `db:"id"`
	ConvexID  string    `db:"convex_id"`
	Name      string    `db:"name"`
	Email     string    `db:"email"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

// UpsertUser records the profile the provision host returned at login.
func UpsertUser(ctx context.Context, db sqlx.ExtContext, convexID, name, email string) (User, error) {
	var u User
	err := sqlx.GetContext(ctx, db, &u, `
		INSERT INTO users (convex_id, name, email)
		VALUES ($1, $2, $3)
		ON CONFLICT (convex_id) DO UPDATE
		   SET name = EXCLUDED.name, email = EXCLUDED.email, updated_at = now()
		RETURNING id, convex_id, name, email, created_at, updated_at`,
		convexID, name, email)
	return u, err
}
