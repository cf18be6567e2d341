package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jmoiron/sqlx"

	"chefdeploy/models"
)

const rolesUsage = "usage: chefdeploy roles grant support EMAIL | roles revoke support EMAIL | roles list"

// runRoles is `chefdeploy roles …`: grant, revoke and list the support role.
func runRoles(ctx context.Context, db *sqlx.DB, args []string, stdout io.Writer) error {
	if len(args) == 1 && args[0] == "list" {
		users, err := models.SupportUsers(ctx, db)
		if err != nil {
			return err
		}
		if len(users) == 0 {
			fmt.Fprintln(stdout, "no one has the support role")
		}
		for _, u := range users {
			var sources []string
			if u.Granted {
				sources = append(sources, "granted by the CLI")
			}
			if u.GroupMember {
				sources = append(sources, "in the SUPPORT_OIDC_GROUP group at their latest sign-in")
			}
			if u.TeamMember {
				sources = append(sources, "member of the support team (checked "+u.CheckedAt.Time.UTC().Format("2006-01-02 15:04 UTC")+")")
			}
			source := strings.Join(sources, "; ")
			fmt.Fprintf(stdout, "support\t%s\t%s\t%s\n", u.Email, u.Name, source)
		}
		return nil
	}
	if len(args) != 3 || (args[0] != "grant" && args[0] != "revoke") || args[1] != "support" {
		return fmt.Errorf("%s", rolesUsage)
	}
	grant, email := args[0] == "grant", args[2]
	n, err := models.GrantSupport(ctx, db, email, grant)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("no user with email %s has signed in yet; they must sign in once first", email)
	}
	verb := "granted"
	if !grant {
		verb = "revoked"
	}
	fmt.Fprintf(stdout, "support %s for %s\n", verb, email)
	return nil
}
