package main

import (
	"context"
	"fmt"
	"io"

	"github.com/jmoiron/sqlx"

	"chefdeploy/config"
	"chefdeploy/models"
)

// runCredentials is `chefdeploy credentials reseal`: every stored secret is
// sealed again with the first key of CREDENTIALS_KEY, so older keys can go.
func runCredentials(ctx context.Context, db *sqlx.DB, cfg *config.Config, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "reseal" {
		return fmt.Errorf("usage: chefdeploy credentials reseal")
	}
	counts, err := models.ResealCredentials(ctx, db, cfg.Credentials)
	if err != nil {
		return fmt.Errorf("resealing: %w", err)
	}
	fmt.Fprintf(stdout, "resealed with key %s: %d user tokens, %d session tokens, %d deploy keys, %d team grants, %d stocked auth keys\n",
		cfg.Credentials.ActiveKeyID(), counts.Users, counts.Sessions, counts.Connections, counts.TeamGrants, counts.AuthKeys)
	return nil
}
