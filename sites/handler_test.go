package sites_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/jmoiron/sqlx"

	"chefdeploy/config"
	"chefdeploy/models"
)

// viteSite is a small site shaped like a Vite build.
func viteSite(version string) map[string]string {
	return map[string]string{
		"index.html":               "<!doctype html><title>" + version + "</title><script type=module src=/assets/index-B5Qt9EMX.js></script><h1>" + version + "</h1>" + strings.Repeat("<p>filler</p>", 100),
		"assets/index-B5Qt9EMX.js": "console.log(" + strings.Repeat(`"`+version+`",`, 2000) + ");",
		"assets/logo-4a5b6c7d.png": "\x89PNG\r\n\x1a\n" + version,
		"docs/index.html":          "<!doctype html><h1>Docs " + version + "</h1>",
		"404.html":                 "<!doctype html><h1>Custom 404 " + version + "</h1>",
		"robots.txt":               "User-agent: *",
	}
}

func TestServesStaticSite(t *testing.T) {
	t.Parallel()
	f := setup(t, config.SitesLayout{}, 8<<20)
	a := f.connectedApp(t, "happy-otter-123")
	f.deploy(t, a, viteSite("v1"))

	cases := []struct {
		path, wantBody, wantType, wantCache string
		status                              int
	}{
		{"/happy-otter-123/", "<h1>v1</h1>", "text/html; charset=utf-8", "no-cache", 200},
		{"/happy-otter-123/index.html", "<h1>v1</h1>", "text/html; charset=utf-8", "no-cache", 200},
		{"/happy-otter-123/assets/index-B5Qt9EMX.js", `console.log("v1",`, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", 200},
		{"/happy-otter-123/assets/logo-4a5b6c7d.png", "PNG", "image/png", "public, max-age=31536000, immutable", 200},
		{"/happy-otter-123/robots.txt", "User-agent", "text/plain; charset=utf-8", "no-cache", 200},
		{"/happy-otter-123/docs/", "Docs v1", "text/html; charset=utf-8", "no-cache", 200},
		{"/happy-otter-123/docs", "Docs v1", "text/html; charset=utf-8", "no-cache", 200},
		// An SPA route: no extension, no such file: the site's index.html.
		{"/happy-otter-123/settings/profile", "<h1>v1</h1>", "text/html; charset=utf-8", "no-cache", 200},
		// A missing file with an extension: the bundle's 404.html, as 404.
		{"/happy-otter-123/assets/missing-12345678.js", "Custom 404 v1", "text/html; charset=utf-8", "no-cache", 404},
	}
	for _, c := range cases {
		res := f.get(t, "GET", c.path)
		if res.status != c.status || !strings.Contains(res.body, c.wantBody) {
			t.Errorf("GET %s = %d %.80q, want %d with %q", c.path, res.status, res.body, c.status, c.wantBody)
		}
		if got := res.header.Get("Content-Type"); got != c.wantType {
			t.Errorf("GET %s: Content-Type %q, want %q", c.path, got, c.wantType)
		}
		if got := res.header.Get("Cache-Control"); got != c.wantCache {
			t.Errorf("GET %s: Cache-Control %q, want %q", c.path, got, c.wantCache)
		}
		checkSiteHeaders(t, c.path, res)
	}

	// The deployment's bare name gets its slash (relative links need it).
	if res := f.get(t, "GET", "/happy-otter-123?x=1"); res.status != http.StatusPermanentRedirect || res.header.Get("Location") != "/happy-otter-123/?x=1" {
		t.Errorf("GET /happy-otter-123 = %d to %q, want 308 to /happy-otter-123/?x=1", res.status, res.header.Get("Location"))
	}
	if res := f.get(t, "POST", "/happy-otter-123/"); res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST = %d (Allow %q), want 405 with Allow: GET, HEAD", res.status, res.header.Get("Allow"))
	}
}

// checkSiteHeaders: every answer of the sites listener carries the security
// headers, and no cookie.
func checkSiteHeaders(t *testing.T, path string, res response) {
	t.Helper()
	want := map[string]string{
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "strict-origin-when-cross-origin",
		"X-Frame-Options":              "SAMEORIGIN",
		"Cross-Origin-Resource-Policy": "same-origin",
	}
	for k, v := range want {
		if got := res.header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", path, k, got, v)
		}
	}
	if csp := res.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self'") {
		t.Errorf("%s: Content-Security-Policy %q has no frame-ancestors 'self'", path, csp)
	}
	if c := res.header.Values("Set-Cookie"); len(c) > 0 {
		t.Errorf("%s: sets cookies %q", path, c)
	}
}

func TestNoCustom404AndUnknownSites(t *testing.T) {
	t.Parallel()
	f := setup(t, config.SitesLayout{}, 8<<20)
	a := f.connectedApp(t, "plain-site-1")
	f.deploy(t, a, map[string]string{"index.html": "<h1>plain</h1>"})
	for _, p := range []string{"/plain-site-1/missing.css", "/no-such-deployment/", "/no-such-deployment", "/", "/UPPER/", "/-x-/index.html"} {
		res := f.get(t, "GET", p)
		if res.status != http.StatusNotFound || !strings.Contains(res.body, "<h1") || len(res.body) > 1024 {
			t.Errorf("GET %s = %d %q, want 404 with a short page", p, res.status, res.body)
		}
		checkSiteHeaders(t, p, res)
	}
	// The shared origin's root is no site, but browsers ask it for an icon.
	if res := f.get(t, "GET", "/favicon.ico"); res.status != http.StatusNoContent || res.body != "" {
		t.Errorf("GET /favicon.ico = %d %q, want 204", res.status, res.body)
	}
	if res := f.get(t, "HEAD", "/no-such-deployment/"); res.status != http.StatusNotFound || res.body != "" {
		t.Errorf("HEAD of an unknown site = %d %q, want 404 without a body", res.status, res.body)
	}
}

func TestConditionalRequestsEncodingsRangeAndHead(t *testing.T) {
	t.Parallel()
	f := setup(t, config.SitesLayout{}, 8<<20)
	a := f.connectedApp(t, "cond-site-1")
	site := viteSite("v1")
	f.deploy(t, a, site)
	js := "/cond-site-1/assets/index-B5Qt9EMX.js"
	original := site["assets/index-B5Qt9EMX.js"]

	plain := f.get(t, "GET", js)
	etag := plain.header.Get("ETag")
	if plain.status != 200 || plain.body != original || plain.header.Get("Content-Encoding") != "" || len(etag) != 66 {
		t.Fatalf("plain GET = %d, encoding %q, ETag %q, body matches %v", plain.status, plain.header.Get("Content-Encoding"), etag, plain.body == original)
	}
	if v := plain.header.Get("Vary"); v != "Accept-Encoding" {
		t.Errorf("Vary = %q, want Accept-Encoding", v)
	}
	if res := f.get(t, "GET", js, "If-None-Match: "+etag); res.status != http.StatusNotModified || res.body != "" || res.header.Get("ETag") != etag {
		t.Errorf("If-None-Match = %d %q (ETag %q), want 304 with the same ETag", res.status, res.body, res.header.Get("ETag"))
	}
	if res := f.get(t, "GET", js, `If-None-Match: "other"`); res.status != 200 {
		t.Errorf("If-None-Match of another tag = %d, want 200", res.status)
	}

	for _, c := range []struct{ accept, want string }{
		{"gzip, deflate, br", "br"},
		{"gzip", "gzip"},
		{"br;q=0, gzip;q=0.5", "gzip"},
		{"gzip;q=0", ""},
		{"identity", ""},
	} {
		res := f.get(t, "GET", js, "Accept-Encoding: "+c.accept)
		if got := res.header.Get("Content-Encoding"); got != c.want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", c.accept, got, c.want)
			continue
		}
		if decoded := decode(t, c.want, res.body); decoded != original {
			t.Errorf("Accept-Encoding %q: decoded body differs from the file", c.accept)
		}
		// Compressed or not, the length is known (no chunked encoding).
		if cl, ar := res.header.Get("Content-Length"), res.header.Get("Accept-Ranges"); cl != strconv.Itoa(len(res.body)) || ar != "bytes" {
			t.Errorf("Accept-Encoding %q: Content-Length %q, Accept-Ranges %q; want %d, bytes", c.accept, cl, ar, len(res.body))
		}
		if c.want != "" {
			if len(res.body) >= len(original) {
				t.Errorf("%s body is %d bytes, not smaller than %d", c.want, len(res.body), len(original))
			}
			// The client's copy revalidates whichever encoding it holds.
			tag := res.header.Get("ETag")
			if again := f.get(t, "GET", js, "Accept-Encoding: "+c.accept, "If-None-Match: "+tag); again.status != http.StatusNotModified {
				t.Errorf("revalidating the %s copy = %d, want 304", c.want, again.status)
			}
		}
	}
	// An incompressible file has no compressed variant stored.
	if res := f.get(t, "GET", "/cond-site-1/assets/logo-4a5b6c7d.png", "Accept-Encoding: br, gzip"); res.header.Get("Content-Encoding") != "" || res.header.Get("Vary") != "" {
		t.Errorf("png: Content-Encoding %q Vary %q, want neither", res.header.Get("Content-Encoding"), res.header.Get("Vary"))
	}

	// A range is of the file itself, even when the client accepts brotli.
	res := f.get(t, "GET", js, "Range: bytes=12-21", "Accept-Encoding: br")
	if res.status != http.StatusPartialContent || res.body != original[12:22] || res.header.Get("Content-Encoding") != "" {
		t.Errorf("Range = %d %q (encoding %q), want 206 %q", res.status, res.body, res.header.Get("Content-Encoding"), original[12:22])
	}
	if res := f.get(t, "GET", js, `If-Match: "other"`); res.status != http.StatusPreconditionFailed {
		t.Errorf("If-Match of another tag = %d, want 412", res.status)
	}
	if res := f.get(t, "GET", js, "If-Match: "+etag); res.status != 200 || res.body != original {
		t.Errorf("If-Match of its tag = %d, body matches %v; want 200 and the file", res.status, res.body == original)
	}
	if res := f.get(t, "HEAD", js, "Accept-Encoding: gzip"); res.status != 200 || res.body != "" || res.header.Get("Content-Length") == "" {
		t.Errorf("HEAD, gzip = %d, %d body bytes, Content-Length %q; want 200, none, the gzip length", res.status, len(res.body), res.header.Get("Content-Length"))
	}
	head := f.get(t, "HEAD", js)
	if head.status != 200 || head.body != "" || head.header.Get("Content-Length") != strconv.Itoa(len(original)) {
		t.Errorf("HEAD = %d, %d body bytes, Content-Length %q; want 200, none, %d", head.status, len(head.body), head.header.Get("Content-Length"), len(original))
	}
}

func decode(t *testing.T, enc, body string) string {
	t.Helper()
	var r io.Reader = strings.NewReader(body)
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(r)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestBadPathsNeverRedirectOrEscape sends request lines as a hostile client
// writes them, unmodified by any client library.
func TestBadPathsNeverRedirectOrEscape(t *testing.T) {
	t.Parallel()
	f := setup(t, config.SitesLayout{}, 8<<20)
	a := f.connectedApp(t, "safe-site-1")
	f.deploy(t, a, viteSite("v1"))
	paths := []string{
		"/safe-site-1/../safe-site-1/index.html",
		"/safe-site-1/docs/../index.html",
		"/safe-site-1/%2e%2e/index.html",
		"/safe-site-1/./index.html",
		"/safe-site-1/docs%2Findex.html",
		"/safe-site-1/docs%2findex.html",
		"/safe-site-1%2Findex.html",
		"/safe-site-1/docs%5Cindex.html",
		"/safe-site-1/index.html%00.png",
		"/safe-site-1/%ff%fe.html",
		"/safe-site-1//index.html",
		"/safe-site-1/" + strings.Repeat("a", 300) + ".html",
		"/safe-site-1/" + strings.Repeat("a/", 1100),
		"/safe-site-1/\\index.html",
		"//safe-site-1/index.html",
		"/../../../etc/passwd",
	}
	for _, p := range paths {
		status, body := rawGet(t, f.srv.Listener.Addr().String(), p)
		if status != http.StatusBadRequest && status != http.StatusNotFound {
			t.Errorf("GET %.60s = %d, want 400 or 404", p, status)
		}
		if strings.Contains(body, "<h1>v1</h1>") || strings.Contains(body, "root:") {
			t.Errorf("GET %.60s served a file: %.80q", p, body)
		}
	}
}

// rawGet writes one request line as given and reads the answer.
func rawGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %.60s: %v", path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(body)
}

func TestHostBasedSites(t *testing.T) {
	t.Parallel()
	f := setup(t, config.SitesLayout{HostBased: true, HostSuffix: ".sites.example.com"}, 8<<20)
	a := f.connectedApp(t, "host-site-1")
	f.deploy(t, a, viteSite("host"))
	for _, c := range []struct {
		host, path string
		status     int
		want       string
	}{
		{"host-site-1.sites.example.com", "/", 200, "<h1>host</h1>"},
		{"Host-Site-1.Sites.Example.com:8443", "/docs/", 200, "Docs host"},
		{"other-site.sites.example.com", "/", 404, "No site"},
		{"host-site-1.evil.example.com", "/", 404, "No site"},
		{"x.host-site-1.sites.example.com", "/", 404, "No site"},
		{"sites.example.com", "/", 404, "No site"},
	} {
		req, err := http.NewRequest("GET", f.srv.URL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = c.host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != c.status || !strings.Contains(string(body), c.want) {
			t.Errorf("GET %s%s = %d %.80q, want %d with %q", c.host, c.path, res.StatusCode, body, c.status, c.want)
		}
	}
}

// TestDeployRollbackAndDisconnect: a deploy flips the site whole, a
// rollback flips it back without unpacking anything again, and a
// disconnect or delete takes only that app's site down.
func TestDeployRollbackAndDisconnect(t *testing.T) {
	t.Parallel()
	f := setup(t, config.SitesLayout{}, 8<<20)
	ctx := context.Background()
	a := f.connectedApp(t, "flip-site-1")
	other := f.connectedApp(t, "other-site-1")
	f.deploy(t, other, viteSite("other"))

	first := f.deploy(t, a, viteSite("v1"))
	f.expect(t, "/flip-site-1/", "<h1>v1</h1>")
	f.deploy(t, a, viteSite("v2"))
	f.expect(t, "/flip-site-1/", "<h1>v2</h1>")
	f.expect(t, "/flip-site-1/assets/index-B5Qt9EMX.js", `"v2"`)

	var blobs, chunks int
	count := func() {
		t.Helper()
		if err := f.db.GetContext(ctx, &blobs, `SELECT count(*) FROM site_blobs`); err != nil {
			t.Fatal(err)
		}
		if err := f.db.GetContext(ctx, &chunks, `SELECT count(*) FROM site_blob_chunks`); err != nil {
			t.Fatal(err)
		}
	}
	count()
	beforeBlobs, beforeChunks := blobs, chunks
	f.rollback(t, a, first)
	f.expect(t, "/flip-site-1/", "<h1>v1</h1>")
	f.expect(t, "/flip-site-1/assets/index-B5Qt9EMX.js", `"v1"`)
	count()
	if blobs != beforeBlobs || chunks != beforeChunks {
		t.Errorf("the rollback stored %d blobs and %d chunks more, want none", blobs-beforeBlobs, chunks-beforeChunks)
	}
	deploys, err := models.AppDeploys(ctx, f.db, a.id, 10)
	if err != nil {
		t.Fatal(err)
	}
	var live []int
	for i, d := range deploys {
		if d.Live {
			live = append(live, i)
		}
	}
	if len(live) != 1 || live[0] != 0 {
		t.Errorf("deploys marked live: %v, want only the newest (the rollback)", live)
	}

	// Disconnect: the site is down at once, the other app's is not.
	if err := models.InTx(ctx, f.db, func(tx *sqlx.Tx) error { _, err := models.Disconnect(ctx, tx, a.id); return err }); err != nil {
		t.Fatal(err)
	}
	f.expectStatus(t, "/flip-site-1/", http.StatusNotFound)
	f.expect(t, "/other-site-1/", "<h1>other</h1>")
	// Delete: the same.
	if err := models.DeleteApp(ctx, f.db, f.userID, other.id); err != nil {
		t.Fatal(err)
	}
	f.expectStatus(t, "/other-site-1/", http.StatusNotFound)
}

// expect polls until path serves want: a change reaches the cache by
// NOTIFY, a moment after its commit.
func (f *fixture) expect(t *testing.T, path, want string) {
	t.Helper()
	var last response
	waitUntil(t, path+" to serve "+want, func() bool {
		last = f.get(t, "GET", path)
		return last.status == 200 && strings.Contains(last.body, want)
	})
}

func (f *fixture) expectStatus(t *testing.T, path string, status int) {
	t.Helper()
	waitUntil(t, path+" to answer "+http.StatusText(status), func() bool { return f.get(t, "GET", path).status == status })
}
