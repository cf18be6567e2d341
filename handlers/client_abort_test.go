package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
)

// TestClientGoneMidUploadIs499 sends a deploy whose client goes away halfway
// through the body: the request is counted as 499 (client closed request),
// not as a server error, and nothing is logged at ERROR.
func TestClientGoneMidUploadIs499(t *testing.T) {
	t.Parallel()
	b, c, id, _ := connectedApp(t, "grace", "hopper-labs")

	zipBytes := goodSite(t, "abort")
	const boundary = "chefdeployboundary"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"dist.zip\"\r\nContent-Type: application/zip\r\n\r\n"
	sent := head + string(zipBytes[:len(zipBytes)/2])
	conn, err := net.Dial("tcp", b.app.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	req := fmt.Sprintf("POST /apps/%s/deploys HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nContent-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n%s",
		id, b.app.Listener.Addr(), cookieHeader(t, c, b.app.URL), boundary, len(sent)+1<<20, sent)
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}

	b.waitMetric(t, c, `chefdeploy_http_requests_total{code="499",method="POST",route="POST /apps/{id}/deploys"} 1`)
	if logs := b.logs.String(); strings.Contains(logs, "level=ERROR") {
		t.Fatalf("a client that went away was logged as an error:\n%s", errorLines(logs))
	}
}

// TestClientGoneMidCreateIs499 cancels a create while it waits in the
// database (the test holds the user's row, which creates take turns on):
// the request is counted as 499 and nothing is logged at ERROR.
func TestClientGoneMidCreateIs499(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	tx, err := b.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT 1 FROM users WHERE email = 'ada@example.com' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", b.app.URL+"/apps", strings.NewReader(url.Values{"name": {"Abandoned"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	done := make(chan error, 1)
	go func() {
		res, err := c.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for waiting := 0; waiting == 0; {
		if err := b.db.Get(&waiting, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the create never waited for the user's row")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the client's request ended with %v, want context.Canceled", err)
	}

	b.waitMetric(t, c, `chefdeploy_http_requests_total{code="499",method="POST",route="POST /apps"} 1`)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	var apps int
	if err := b.db.Get(&apps, `SELECT count(*) FROM apps`); err != nil {
		t.Fatal(err)
	}
	if apps != 0 {
		t.Errorf("the abandoned create made %d apps", apps)
	}
	if logs := b.logs.String(); strings.Contains(logs, "level=ERROR") {
		t.Fatalf("a client that went away was logged as an error:\n%s", errorLines(logs))
	}
}

// cookieHeader is the Cookie header the browser c sends to base.
func cookieHeader(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, k := range c.Jar.Cookies(u) {
		parts = append(parts, k.Name+"="+k.Value)
	}
	if len(parts) == 0 {
		t.Fatal("the browser has no cookies")
	}
	return strings.Join(parts, "; ")
}

// waitMetric polls /metrics until it has the line want, for up to 5 s.
func (b *bundle) waitMetric(t *testing.T, c *http.Client, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := webtest.Do(t, c, "GET", b.app.URL+"/metrics", nil, "Authorization", "Bearer "+testMetricsToken)
		if strings.Contains(m.Body, want) {
			return
		}
		if time.Now().After(deadline) {
			var got []string
			for _, l := range strings.Split(m.Body, "\n") {
				if strings.HasPrefix(l, "chefdeploy_http_requests_total") {
					got = append(got, l)
				}
			}
			t.Fatalf("metrics lack %s after 5s; requests counted:\n%s", want, strings.Join(got, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
