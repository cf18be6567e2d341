package main

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"chefdeploy/credentials"
	"chefdeploy/handlers/webtest"
	"chefdeploy/models/dbtest"
	"chefdeploy/sandbox"
)

// SIGTERM while a deploy upload has stalled mid-body: the product stops in
// order and exits 0 well within its grace period, the upload's temporary
// file is gone, and River stops before the database closes.
func TestShutdownDuringAnUpload(t *testing.T) {
	t.Parallel()
	bin := buildProduct(t)
	_, dbURL := dbtest.New(t)
	tmp := t.TempDir()
	addr := webtest.FreeAddr(t)
	base := "http://" + addr
	env := []string{
		"DATABASE_URL=" + dbURL,
		"HTTP_ADDR=" + addr,
		"DATA_DIR=" + t.TempDir(),
		"CONVEX_API=builder",
		"TMPDIR=" + tmp,
		"SESSION_SECRET=shutdown-session-secret-0123456789abcdef",
		"CREDENTIALS_KEY=" + credentials.GenerateSpec("s1"),
	}
	p := startProcess(t, bin, env)

	c := webtest.Browser(t)
	webtest.Login(t, c, base, base+"/sandbox/oidc/authorize", sandbox.UserAda)
	created := webtest.Do(t, c, "POST", base+"/apps", url.Values{"name": {"Shutdown"}})
	appID := filepath.Base(created.Header.Get("Location"))
	if res := webtest.Do(t, c, "POST", base+"/apps/"+appID+"/connect", url.Values{"team": {"acme"}}, "HX-Request", "true"); res.Status != 200 {
		t.Fatalf("connect = %d", res.Status)
	}
	state := regexp.MustCompile(`data-testid="connection" data-state="([a-z]+)"`)
	waitFor(t, 10*time.Second, "the app connected", func() (bool, error) {
		m := state.FindStringSubmatch(webtest.Do(t, c, "GET", base+"/apps/"+appID+"/status", nil, "HX-Request", "true").Body)
		return m != nil && m[1] == "connected", nil
	})

	// A 50 MB upload that sends its first megabyte and stalls.
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	u, _ := url.Parse(base)
	var cookies []string
	for _, ck := range c.Jar.Cookies(u) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	head := "--b\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"dist.zip\"\r\nContent-Type: application/zip\r\n\r\n"
	if _, err := fmt.Fprintf(conn, "POST /apps/%s/deploys HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n%s",
		appID, addr, strings.Join(cookies, "; "), 50<<20, head); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	bundles := func() []string {
		m, err := filepath.Glob(filepath.Join(tmp, "chefdeploy-bundle-*"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	waitFor(t, 10*time.Second, "the upload's temporary file", func() (bool, error) { return len(bundles()) == 1, nil })

	stopped := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	const bound = 8 * time.Second
	select {
	case err := <-p.exited:
		p.exited <- err
		if err != nil {
			t.Fatalf("the product exited with %v after SIGTERM, want 0:\n%s", err, p.out.String())
		}
	case <-time.After(bound):
		t.Fatalf("the product was still running %v after SIGTERM", bound)
	}
	t.Logf("stopped %v after SIGTERM", time.Since(stopped).Round(time.Millisecond))
	if left := bundles(); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	for _, bad := range []string{"database is closed", "context deadline exceeded", "did not stop cleanly"} {
		if strings.Contains(p.out.String(), bad) {
			t.Errorf("the shutdown logged %q:\n%s", bad, p.out.String())
		}
	}
	// The stalled client was told why, if it could still be told.
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if answer, _ := io.ReadAll(conn); len(answer) > 0 && !strings.Contains(string(answer), "503") {
		t.Errorf("the cut-off upload was answered:\n%.300s", answer)
	}
}
