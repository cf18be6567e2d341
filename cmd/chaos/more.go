package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/lib/pq"

	"chefdeploy/loadtest"
	"chefdeploy/sandbox"
)

// outcomes counts the apps whose connect recorded no outcome event, and
// those that recorded more than one (each app here connects once).
func outcomes(ctx context.Context, f *loadtest.Fleet, ids []string) (none, several int, err error) {
	var counts []int
	err = f.DB.SelectContext(ctx, &counts, `
		SELECT count(e.id) FROM unnest($1::uuid[]) AS a(id)
		  LEFT JOIN events e ON e.app_id = a.id AND e.kind IN ('connect_succeeded', 'connect_failed', 'deadline_fired')
		 GROUP BY a.id`, pq.Array(ids))
	for _, n := range counts {
		switch {
		case n == 0:
			none++
		case n > 1:
			several++
		}
	}
	return none, several, err
}

// killOneOfThree is (b): three replicas behind HAProxy, s.apps apps
// connecting on the slow team through it; replica 3 is SIGKILLed while
// create_project calls are in flight and stays down. The others must finish
// or fail its work: every app final within deadline + 5 s, one outcome
// each, no orphan project, no app with two.
func killOneOfThree(ctx context.Context, s settings, log io.Writer) outcome {
	o := killMidProvisioning(ctx, s, log, "b", 3, false)
	o.tried = fmt.Sprintf("3 replicas behind HAProxy, %d apps connecting on slow (%v); replica3 SIGKILLed mid-provisioning, not restarted", s.apps, s.slowDelay)
	return o
}

// killMidDeploy is (e): an app's site A is live; a deploy of site B is
// posted and the replica SIGKILLed as soon as the product accepted it, then
// restarted. Within s.settle the deploy must be recorded live or failed,
// never left uploading, and the site served must be all of A or all of B,
// matching what was recorded.
func killMidDeploy(ctx context.Context, s settings, log io.Writer) (o outcome) {
	o.tried = fmt.Sprintf("site A live; deploy of a %d KB site B, replica SIGKILLed as its upload to Convex begins, restarted", s.siteBytes>>10)
	f, b, done, err := stage(ctx, s, "e", loadtest.FleetOptions{Replicas: 1})
	if err != nil {
		o.err = err
		return
	}
	defer done()
	ids, err := connectApps(ctx, b, 1, sandbox.TeamAcme, "Chaos e")
	if err != nil {
		o.err = err
		return
	}
	if _, err := waitSettled(ctx, f, ids, time.Now(), 30*time.Second, false); err != nil {
		o.err = err
		return
	}
	app := ids[0]
	var deployment string
	if o.err = f.DB.GetContext(ctx, &deployment, `SELECT deployment_name FROM connections WHERE app_id = $1 AND state = 'connected'`, app); o.err != nil {
		return
	}
	siteA, err := loadtest.Site(64 << 10)
	if err != nil {
		o.err = err
		return
	}
	siteB, err := loadtest.Site(s.siteBytes)
	if err != nil {
		o.err = err
		return
	}
	if o.err = b.Deploy(ctx, app, siteA); o.err != nil {
		return
	}
	if _, o.err = waitDeploy(ctx, f, app, 1, 60*time.Second); o.err != nil {
		return
	}
	// The kill lands while the replica uploads B to Convex: as soon as the
	// sandbox has seen the upload begin (or, if that is missed, once the
	// product has accepted the deploy).
	calls := f.Sandbox.Calls("hosting_deploy", sandbox.TeamAcme)
	posted := make(chan error, 1)
	go func() { posted <- b.Deploy(ctx, app, siteB) }()
	midUpload := false
	for giveUp := time.Now().Add(30 * time.Second); !midUpload && time.Now().Before(giveUp); {
		select {
		case o.err = <-posted:
			if o.err != nil {
				return
			}
			posted = nil
		case <-time.After(time.Millisecond):
		}
		midUpload = f.Sandbox.Calls("hosting_deploy", sandbox.TeamAcme) > calls
	}
	f.Replicas[0].Kill()
	fmt.Fprintf(log, "  killed %s\n", map[bool]string{true: "while the sandbox was receiving B", false: "30s after posting B, its upload never seen"}[midUpload])
	restarted := time.Now()
	if o.err = f.Replicas[0].Start(ctx); o.err != nil {
		return
	}
	status, err := waitDeploy(ctx, f, app, 2, s.settle)
	if err != nil {
		var stuck int
		f.DB.GetContext(ctx, &stuck, `SELECT count(*) FROM deploys WHERE app_id = $1 AND status = 'uploading'`, app)
		o.held = fmt.Sprintf("%d deploy(s) still uploading %v after the restart", stuck, s.settle)
		return
	}
	served, ok := f.Sandbox.LastBundle(deployment)
	which := "neither A nor B"
	switch {
	case ok && bytes.Equal(served, siteA):
		which = "all of A"
	case ok && bytes.Equal(served, siteB):
		which = "all of B"
	}
	consistent := (status == "live" && which == "all of B") || (status == "failed" && which == "all of A")
	fmt.Fprintf(log, "  the interrupted deploy is %s %v after the restart; the site served is %s\n", status, time.Since(restarted).Round(100*time.Millisecond), which)
	o.held = fmt.Sprintf("deploy B recorded %s; site served is %s; record and site agree: %v", status, which, consistent)
	o.ok = consistent
	return
}

// waitDeploy waits until the app has n deploys and the newest is final,
// and returns its status.
func waitDeploy(ctx context.Context, f *loadtest.Fleet, app string, n int, within time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		var rows []string
		err := f.DB.SelectContext(ctx, &rows, `SELECT status FROM deploys WHERE app_id = $1 ORDER BY created_at DESC, id DESC`, app)
		if err == nil && len(rows) >= n && rows[0] != "uploading" {
			return rows[0], nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("deploy %d of the app not final within %v", n, within)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readyz is the replica's /readyz status code (0 when it does not answer).
func readyz(ctx context.Context, p *loadtest.Process) int {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+p.Addr+"/readyz", nil)
	if err != nil {
		return 0
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}
