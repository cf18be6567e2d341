// Command chefdeploy connects Chef apps to Convex and deploys them.
//
//	chefdeploy [serve]   run the web server (the default)
//	chefdeploy migrate   apply the database migrations and exit
//	chefdeploy roles grant|revoke support EMAIL, chefdeploy roles list
//	chefdeploy credentials reseal   re-seal stored secrets with the first CREDENTIALS_KEY
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"chefdeploy/config"
	"chefdeploy/models"
	"chefdeploy/replica"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chefdeploy:", err)
		os.Exit(1)
	}
}

// run loads the config and runs one command; serve lasts until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	command := "serve"
	if len(args) > 0 {
		command = args[0]
	}
	if command != "serve" && command != "migrate" && command != "roles" && command != "credentials" {
		return fmt.Errorf("unknown command %q (want serve, migrate, roles or credentials)", command)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if command == "serve" {
		return serve(ctx, cfg, stdout)
	}

	db, err := models.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := models.Migrate(ctx, db.DB); err != nil {
		return err
	}
	switch command {
	case "roles":
		return runRoles(ctx, db, args[1:], stdout)
	case "credentials":
		return runCredentials(ctx, db, cfg, args[1:], stdout)
	}
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

// serve runs one replica of the product until ctx ends.
func serve(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	r, err := replica.Open(ctx, cfg, replica.WithLogger(slog.New(slog.NewTextHandler(stdout, nil))))
	if err != nil {
		return err
	}
	defer r.Close()
	convexURL := cfg.ConvexAPIURL
	if cfg.ConvexAPI == config.ConvexAPIBuilder {
		convexURL = cfg.ProvisionHost
	}
	mode := "Convex at " + convexURL
	if cfg.Sandbox {
		mode = "the built-in Convex sandbox at " + convexURL
	}
	fmt.Fprintf(stdout, "chefdeploy is listening on %s (using %s)\n", cfg.BaseURL, mode)
	if r.SitesHandler() != nil {
		fmt.Fprintf(stdout, "deployed sites are served on %s at %s\n", cfg.SitesAddr, cfg.SitesURLTemplate)
	}
	return r.Run(ctx)
}
