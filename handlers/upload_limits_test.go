package handlers_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
)

// stalledUpload opens a deploy POST of declared bytes as c's user, sends
// the multipart headers and a few bytes of the zip, then sends nothing more.
// It returns the connection; the test closes it.
func (b *bundle) stalledUpload(t *testing.T, c *http.Client, appID string, declared int) net.Conn {
	t.Helper()
	u, err := url.Parse(b.app.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var cookies []string
	for _, ck := range c.Jar.Cookies(u) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	const boundary = "stallboundary"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"dist.zip\"\r\nContent-Type: application/zip\r\n\r\nPK\x03\x04"
	req := fmt.Sprintf("POST /apps/%s/deploys HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nHX-Request: true\r\n"+
		"Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n%s",
		appID, u.Host, strings.Join(cookies, "; "), boundary, declared, head)
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	return conn
}

// tempFiles lists what is in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// waitTempFiles waits until dir holds n files.
func waitTempFiles(t *testing.T, dir string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(tempFiles(t, dir)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d files in the upload directory after 5s, want %d: %v", len(tempFiles(t, dir)), n, tempFiles(t, dir))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An upload that sends a few bytes and stalls is answered and closed within
// the rate window, and its temporary file is gone.
func TestSlowUploadIsClosed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, c := signedIn(t, "grace", withEnv("UPLOAD_TEMP_DIR", dir), withEnv("UPLOAD_MIN_BYTES_PER_SECOND", "1024"),
		withEnv("UPLOAD_RATE_WINDOW", "500ms"))
	id := b.createApp(t, c, "Slow")
	b.connect(t, c, id, "hopper-labs")
	b.waitFinal(t, c, id, 5*time.Second)

	start := time.Now()
	conn := b.stalledUpload(t, c, id, 10<<20)
	waitTempFiles(t, dir, 1)
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled upload after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	body, _ := io.ReadAll(res.Body) // the server closes the connection
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "too slow") {
		t.Errorf("stalled upload = %d, want 408 saying it was too slow:\n%.400s", res.StatusCode, body)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the stalled upload was held %v; the window is 500ms", took)
	}
	waitTempFiles(t, dir, 0)
}

// A user's uploads beyond MAX_UPLOADS_PER_USER are refused with 429, and
// uploads beyond the temporary space with 503, both with Retry-After.
func TestUploadsArePerUserAndSpaceBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, grace := signedIn(t, "grace", withEnv("UPLOAD_TEMP_DIR", dir), withEnv("MAX_UPLOADS_PER_USER", "2"),
		withEnv("UPLOAD_TEMP_MAX_BYTES", "12582912")) // 12 MiB
	id := b.createApp(t, grace, "Many")
	b.connect(t, grace, id, "hopper-labs")
	b.waitFinal(t, grace, id, 5*time.Second)

	b.stalledUpload(t, grace, id, 1<<20)
	b.stalledUpload(t, grace, id, 1<<20)
	waitTempFiles(t, dir, 2)
	res := b.upload(t, grace, id, goodSite(t, "third"))
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || !strings.Contains(res.Body, "2 uploads at once") {
		t.Errorf("a third upload at once = %d (Retry-After %q), want 429 naming the limit:\n%.600s", res.Status, res.Header.Get("Retry-After"), res.Body)
	}

	// Another user still uploads, until the space the uploads declared is taken.
	ada := adaWithApp(t, b)
	b.stalledUpload(t, ada.c, ada.id, 10<<20)
	waitTempFiles(t, dir, 3)
	res = b.upload(t, ada.c, ada.id, goodSite(t, "no room"))
	if res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(res.Body, "busy") {
		t.Errorf("an upload past the temporary space = %d (Retry-After %q), want 503:\n%.600s", res.Status, res.Header.Get("Retry-After"), res.Body)
	}
}

type userApp struct {
	c  *http.Client
	id string
}

// adaWithApp signs Ada in on b and connects an app of hers.
func adaWithApp(t *testing.T, b *bundle) userApp {
	t.Helper()
	c := webtest.Browser(t)
	b.login(t, c, "ada")
	id := b.createApp(t, c, "Ada's")
	b.connect(t, c, id, "acme")
	if stateOf(t, b.waitFinal(t, c, id, 5*time.Second).Body) != "connected" {
		t.Fatal("ada's app did not connect")
	}
	return userApp{c: c, id: id}
}
