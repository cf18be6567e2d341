// Command chefdeploy connects Chef apps to Convex and deploys them.
//
//	chefdeploy [serve]   run the web server (the default)
//	chefdeploy migrate   apply the database migrations and exit
//	chefdeploy roles grant|revoke support EMAIL, chefdeploy roles list
//	chefdeploy credentials reseal   re-seal stored secrets with the first CREDENTIALS_KEY
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"chefdeploy/config"
	"chefdeploy/convex"
	"chefdeploy/handlers"
	"chefdeploy/jobs"
	"chefdeploy/models"
	"chefdeploy/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chefdeploy:", err)
		os.Exit(1)
	}
}

// run wires the program in order: config, database, migrations, job queue,
// HTTP server; then it waits for ctx to end and shuts down the server, then
// the workers.
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
	logger := slog.New(slog.NewTextHandler(stdout, nil))

	db, err := models.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := models.Migrate(ctx, db.DB); err != nil {
		return err
	}
	switch command {
	case "migrate":
		fmt.Fprintln(stdout, "migrations applied")
		return nil
	case "roles":
		return runRoles(ctx, db, args[1:], stdout)
	case "credentials":
		if len(args) != 2 || args[1] != "reseal" {
			return fmt.Errorf("usage: chefdeploy credentials reseal")
		}
		counts, err := models.ResealCredentials(ctx, db, cfg.Credentials)
		if err != nil {
			return fmt.Errorf("resealing: %w", err)
		}
		fmt.Fprintf(stdout, "resealed with key %s: %d user tokens, %d session tokens, %d deploy keys\n",
			cfg.Credentials.ActiveKeyID(), counts.Users, counts.Sessions, counts.Connections)
		return nil
	}

	registry := prometheus.NewRegistry()
	convexClient := convex.New(convex.Options{
		BaseURL:      cfg.ProvisionHost,
		DeploySecret: cfg.HostingDeploySecret,
	})
	jobClient, err := jobs.NewQueue(jobs.Deps{
		DB: db, Convex: convexClient, Config: cfg, Logger: logger, Registry: registry,
	}, jobs.Options{Work: true})
	if err != nil {
		return err
	}
	statuses := models.NewStatusCache(db, logger)
	sessions := models.NewSessionCache(db, logger)
	deps := handlers.Deps{
		Config:   cfg,
		DB:       db,
		Logger:   logger,
		Registry: registry,
		Convex:   convexClient,
		Jobs:     jobClient,
		Statuses: statuses,
		Sessions: sessions,
	}
	if cfg.Sandbox {
		sb, err := sandbox.New(sandbox.Options{
			BaseURL:      cfg.ProvisionHost,
			StateDir:     cfg.SandboxStateDir,
			Clients:      map[string]string{cfg.OAuthClientID: cfg.OAuthClientSecret},
			DeploySecret: cfg.HostingDeploySecret,
			Logger:       logger.With("component", "sandbox"),
		})
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		defer sb.Close()
		deps.Sandbox = sb.Handler()
	}

	listener, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.HTTPAddr, err)
	}
	server := &http.Server{
		Handler:           handlers.New(deps).Routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Background parts live until ctx ends; the server stops first, then them.
	background, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	go func() {
		if err := statuses.Run(background, cfg.DatabaseURL); err != nil {
			logger.Error("status cache listener stopped", "err", err)
		}
	}()
	go func() {
		if err := sessions.Run(background, cfg.DatabaseURL); err != nil {
			logger.Error("session cache listener stopped", "err", err)
		}
	}()
	if err := jobClient.Start(background); err != nil {
		return fmt.Errorf("job queue: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- server.Serve(listener) }()
	mode := "Convex at " + cfg.ProvisionHost
	if cfg.Sandbox {
		mode = "the built-in Convex sandbox at " + cfg.ProvisionHost
	}
	fmt.Fprintf(stdout, "chefdeploy is listening on %s (using %s)\n", cfg.BaseURL, mode)

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Running jobs get the rest of the grace period; what does not finish is
	// picked up again by another replica (or this one after a restart).
	if err := jobClient.Stop(shutdownCtx); err != nil {
		logger.Warn("job queue did not stop cleanly", "err", err)
	}
	return nil
}
