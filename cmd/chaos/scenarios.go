package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"

	"chefdeploy/loadtest"
	"chefdeploy/sandbox"
)

// build compiles the product once into dir.
func build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "chefdeploy")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// fleet starts a scenario's product in its own folder.
func fleet(ctx context.Context, s settings, name string, opts loadtest.FleetOptions) (*loadtest.Fleet, error) {
	opts.Dir = filepath.Join(s.dir, name)
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	opts.Binary = s.bin
	opts.AdminDatabaseURL = s.databaseURL
	opts.HAProxyConfig = s.haproxyConfig
	if opts.SlowDelay == 0 {
		opts.SlowDelay = s.slowDelay
	}
	opts.Env = append(opts.Env, "CHECK_CONNECTION_DEADLINE="+s.deadline.String())
	if s.productEnv != "" {
		opts.Env = append(opts.Env, strings.Split(s.productEnv, ",")...)
	}
	return loadtest.StartFleet(ctx, opts)
}

// stage starts a scenario's product and signs one browser in as Ada
// through the real flow; done stops both.
func stage(ctx context.Context, s settings, name string, opts loadtest.FleetOptions) (*loadtest.Fleet, *loadtest.Browser, func(), error) {
	f, err := fleet(ctx, s, name, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	b := loadtest.NewBrowser(f.URL, nil)
	done := func() { b.Close(); f.Close() }
	if err := b.Login(ctx, f.SandboxURL+"/oidc/authorize", sandbox.UserAda); err != nil {
		done()
		return nil, nil, nil, err
	}
	return f, b, done, nil
}

// connectApps creates n apps and connects each to team, 10 at a time; it
// returns the apps whose Connect was accepted.
func connectApps(ctx context.Context, b *loadtest.Browser, n int, team, prefix string) ([]string, error) {
	ids := make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 10)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			id, err := b.CreateApp(ctx, fmt.Sprintf("%s %d", prefix, i))
			if err == nil {
				err = b.Connect(ctx, id, team)
			}
			ids[i], errs[i] = id, err
		})
	}
	wg.Wait()
	return ids, errors.Join(errs...)
}

// settled is the apps' connection outcome once every one is final.
type settled struct {
	connected, failed int
	took              time.Duration
	messages          map[string]int // failure messages
}

// waitSettled waits until every app's connection is connected or failed in
// the database and, when attempts is set, no project attempt is still open
// (an attempt whose create_project may still complete on Convex's side
// stays open until the deadline and a grace after it), checking every 50ms;
// it gives up after within.
func waitSettled(ctx context.Context, f *loadtest.Fleet, ids []string, since time.Time, within time.Duration, attempts bool) (settled, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		var st settled
		var open int
		rows, err := f.DB.QueryContext(ctx, `SELECT state, error FROM connections WHERE app_id = ANY($1::uuid[])`, pq.Array(ids))
		if err == nil {
			st.messages = map[string]int{}
			final := 0
			for rows.Next() {
				var state, msg string
				if err = rows.Scan(&state, &msg); err != nil {
					break
				}
				switch state {
				case "connected":
					st.connected++
					final++
				case "failed":
					st.failed++
					st.messages[msg]++
					final++
				}
			}
			rows.Close()
			if err == nil && attempts {
				err = f.DB.GetContext(ctx, &open, `SELECT count(*) FROM project_attempts WHERE app_id = ANY($1::uuid[]) AND status IN ('pending', 'created')`, pq.Array(ids))
			}
			if err == nil && final == len(ids) && open == 0 {
				st.took = time.Since(since)
				return st, nil
			}
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("not every app was final within %v (%d connected, %d failed of %d; %d project attempts still pending or created)", within, st.connected, st.failed, len(ids), open)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// projects checks the team's live projects in the sandbox against the
// database: every live project is the project of exactly one connected app
// (no orphans), and no app has more than one. Deleting unused projects runs
// as jobs, so it waits up to within for them.
func projects(ctx context.Context, f *loadtest.Fleet, team string, within time.Duration) (orphans, doubled, live int, err error) {
	deadline := time.Now().Add(within)
	for {
		live = 0
		orphans, doubled = 0, 0
		var inUse []struct {
			AppID     string `db:"app_id"`
			ProjectID int64  `db:"project_id"`
		}
		err = f.DB.SelectContext(ctx, &inUse, `SELECT app_id, project_id FROM connections WHERE state = 'connected' AND team_slug = $1`, team)
		if err != nil {
			return
		}
		owner := map[int64]string{}
		for _, c := range inUse {
			owner[c.ProjectID] = c.AppID
		}
		perApp := map[string]int{}
		for _, p := range f.Sandbox.Projects(team) {
			live++
			app, ok := owner[p.ID]
			if !ok {
				orphans++
				continue
			}
			perApp[app]++
		}
		for _, n := range perApp {
			if n > 1 {
				doubled++
			}
		}
		if (orphans == 0 && doubled == 0) || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return orphans, doubled, live, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitCalls waits until the sandbox has seen at least n create_project
// calls on team.
func waitCalls(ctx context.Context, f *loadtest.Fleet, team string, n int, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for f.Sandbox.Calls("create_project", team) < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("only %d create_project calls on %s within %v", f.Sandbox.Calls("create_project", team), team, within)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// killMidConnect is (a): s.apps apps connect on the slow team; the replica
// is killed while their create_project calls are in flight and restarted at
// once. Every app must end connected or failed within deadline + 5 s of the
// restart, with one outcome each, no live orphan project and no app with
// two.
func killMidConnect(ctx context.Context, s settings, log io.Writer) outcome {
	o := killMidProvisioning(ctx, s, log, "a", 1, true)
	o.tried = fmt.Sprintf("%d apps connecting on slow (%v) when the replica is SIGKILLed; restarted at once", s.apps, s.slowDelay)
	return o
}

// killMidProvisioning connects s.apps apps on the slow team through a fleet
// of replicas, SIGKILLs the last replica once create_project calls are in
// flight (restarting it when asked), and checks from then on: every app
// final within deadline + 5 s, one outcome each, and once every attempt is
// settled no live orphan project and no app with two; with more than one
// replica, the survivors still serve through HAProxy.
func killMidProvisioning(ctx context.Context, s settings, log io.Writer, key string, replicas int, restart bool) (o outcome) {
	f, b, done, err := stage(ctx, s, key, loadtest.FleetOptions{Replicas: replicas, ProjectQuotas: map[string]int{sandbox.TeamSlow: 100_000}})
	if err != nil {
		o.err = err
		return
	}
	defer done()
	ids, err := connectApps(ctx, b, s.apps, sandbox.TeamSlow, "Chaos "+key)
	if err != nil {
		o.err = err
		return
	}
	if o.err = waitCalls(ctx, f, sandbox.TeamSlow, min(s.apps, 10), 30*time.Second); o.err != nil {
		return
	}
	victim := f.Replicas[len(f.Replicas)-1]
	victim.Kill()
	from, event := time.Now(), "the kill"
	fmt.Fprintf(log, "  %s killed with %d create_project calls made\n", victim.Name, f.Sandbox.Calls("create_project", sandbox.TeamSlow))
	if restart {
		if o.err = victim.Start(ctx); o.err != nil {
			return
		}
		event = "the restart"
		fmt.Fprintf(log, "  restarted in %v\n", time.Since(from).Round(time.Millisecond))
	}
	limit := s.deadline + 5*time.Second
	st, err := waitSettled(ctx, f, ids, from, limit, false)
	if err != nil {
		o.err = err
		return
	}
	// Orphans are counted once every attempt is settled: a project whose
	// create_project was cut off may appear up to the grace after the
	// deadline, and must then be found and deleted.
	all, err := waitSettled(ctx, f, ids, from, limit+time.Minute, true)
	if err != nil {
		o.err = err
		return
	}
	orphans, doubled, live, err := projects(ctx, f, sandbox.TeamSlow, 5*time.Second)
	if err != nil {
		o.err = err
		return
	}
	none, several, err := outcomes(ctx, f, ids)
	if err != nil {
		o.err = err
		return
	}
	o.held = fmt.Sprintf("%d/%d final (%d connected, %d failed) %v after %s (limit %v); outcomes: %d missing, %d doubled; attempts settled at %v; %d live projects, %d orphans, %d apps with 2+",
		st.connected+st.failed, len(ids), st.connected, st.failed, st.took.Round(100*time.Millisecond), event, limit, none, several, all.took.Round(100*time.Millisecond), live, orphans, doubled)
	o.ok = st.took <= limit && none == 0 && several == 0 && orphans == 0 && doubled == 0
	if replicas > 1 {
		served := 0
		for _, id := range ids[:min(len(ids), 10)] {
			if _, err := b.Status(ctx, id, false); err == nil {
				served++
			}
		}
		o.held += fmt.Sprintf("; %d/%d polls served after", served, min(len(ids), 10))
		o.ok = o.ok && served == min(len(ids), 10)
	}
	return
}

// contractMessage is every failure message CONTRACT §2.2 allows a
// create_project or authorize failure to end with. A 200 with malformed JSON
// has no status to name; CONTRACT §2 asks for a clear error, which the
// product words as "the Convex API returned an invalid response".
var contractMessage = regexp.MustCompile(`^(Failed to create project: ([0-9]{3}|ProjectQuotaReached: .+|the Convex API returned an invalid response)|Failed to connect to project|Failed to create project deploy key: [0-9]{3})$`)

// randomFaults is (d): s.apps apps connect on acme while the sandbox
// answers create_project slowly, with 500, 429 or malformed JSON at random.
// Every app must end connected (with its project) or failed with a contract
// message, with no orphan project and no app with two.
func randomFaults(ctx context.Context, s settings, log io.Writer) (o outcome) {
	odds := sandbox.RandomFaults{Seed: s.seed, Slow: 0.15, Internal: 0.15, RateLimited: 0.15, Malformed: 0.15}
	o.tried = fmt.Sprintf("%d apps connecting on acme; create_project slow/500/429/malformed at %.0f%% each (seed %d)", s.apps, odds.Slow*100, s.seed)
	f, b, done, err := stage(ctx, s, "d", loadtest.FleetOptions{Replicas: 1, RandomFaults: &odds, ProjectQuotas: map[string]int{sandbox.TeamAcme: 100_000}})
	if err != nil {
		o.err = err
		return
	}
	defer done()
	start := time.Now()
	ids, err := connectApps(ctx, b, s.apps, sandbox.TeamAcme, "Chaos d")
	if err != nil {
		o.err = err
		return
	}
	limit := s.deadline + 5*time.Second
	st, err := waitSettled(ctx, f, ids, start, limit+time.Duration(s.apps/10)*time.Second, false)
	if err == nil {
		_, err = waitSettled(ctx, f, ids, start, limit+time.Minute, true)
	}
	if err != nil {
		o.err = err
		return
	}
	bad := 0
	for msg, n := range st.messages {
		if !contractMessage.MatchString(msg) {
			bad += n
			fmt.Fprintf(log, "  %d failed with a message the contract does not give: %q\n", n, msg)
		}
	}
	orphans, doubled, live, err := projects(ctx, f, sandbox.TeamAcme, 5*time.Second)
	if err != nil {
		o.err = err
		return
	}
	var kinds []string
	for msg, n := range st.messages {
		kinds = append(kinds, fmt.Sprintf("%d×%q", n, msg))
	}
	fmt.Fprintf(log, "  failures: %s\n", strings.Join(kinds, ", "))
	o.held = fmt.Sprintf("%d connected, %d failed (%d without a contract message); %d live projects for %d connected, %d orphans, %d apps with 2+; all final in %v",
		st.connected, st.failed, bad, live, st.connected, orphans, doubled, st.took.Round(100*time.Millisecond))
	o.ok = bad == 0 && orphans == 0 && doubled == 0 && live == st.connected
	return
}
