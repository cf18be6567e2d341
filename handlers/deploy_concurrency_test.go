package handlers_test

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
)

// post sends a bundle the way the deploy form does, from any goroutine: it
// returns its errors instead of failing the test.
func (b *bundle) post(c *http.Client, appID string, zipBytes []byte) (webtest.Response, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("bundle", "dist.zip")
	if err != nil {
		return webtest.Response{}, err
	}
	if _, err := fw.Write(zipBytes); err != nil {
		return webtest.Response{}, err
	}
	if err := mw.Close(); err != nil {
		return webtest.Response{}, err
	}
	req, err := http.NewRequest("POST", b.app.URL+"/apps/"+appID+"/deploys", &body)
	if err != nil {
		return webtest.Response{}, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("HX-Request", "true")
	res, err := c.Do(req)
	if err != nil {
		return webtest.Response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return webtest.Response{}, err
	}
	return webtest.Response{Status: res.StatusCode, Header: res.Header, Body: string(raw)}, nil
}

// randomSite is a zip of index.html and size random bytes stored as they are,
// so that uploading it takes a while.
func randomSite(t *testing.T, marker string, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("index.html")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(w, "<h1>%s</h1>", marker); err != nil {
		t.Fatal(err)
	}
	if w, err = zw.CreateHeader(&zip.FileHeader{Name: "blob.bin", Method: zip.Store}); err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, size)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(blob); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Seven deploys of one app at once: none loses its bundle to another's
// pruning, the newest is what Convex hosting serves in the end, and every
// other one is either live before it or visibly superseded by it.
func TestConcurrentDeploysOfOneApp(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "grace", withEnv("MAX_UPLOADS_PER_USER", "10"))
	id := b.createApp(t, c, "Busy")
	b.connect(t, c, id, "hopper-labs")
	if stateOf(t, b.waitFinal(t, c, id, 5*time.Second).Body) != "connected" {
		t.Fatal("app did not connect")
	}
	deployment := b.sandbox.Projects("hopper-labs")[0].DeploymentName
	b.hostingDelay.Store(int64(200 * time.Millisecond))

	const n = 7
	sites := make([][]byte, n)
	for i := range sites {
		sites[i] = randomSite(t, fmt.Sprintf("version %d", i), 3<<20)
	}
	type result struct {
		i      int
		status int
		body   string
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			r, err := b.post(c, id, sites[i])
			if err != nil {
				results <- result{i: i, status: -1, body: err.Error()}
				return
			}
			results <- result{i: i, status: r.Status, body: r.Body}
		}()
	}
	for range n {
		r := <-results
		if r.status != http.StatusOK {
			t.Errorf("deploy %d answered %d:\n%.400s", r.i, r.status, r.body)
		}
	}
	if t.Failed() {
		return
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		var inFlight int
		if err := b.db.Get(&inFlight, `SELECT count(*) FROM deploys WHERE app_id = $1 AND status = 'uploading'`, id); err != nil {
			t.Fatal(err)
		}
		if inFlight == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deploys still uploading after 30s", inFlight)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var deploys []struct {
		SHA    string `db:"bundle_sha256"`
		Status string `db:"status"`
		Error  string `db:"error"`
	}
	if err := b.db.Select(&deploys, `SELECT bundle_sha256, status, error FROM deploys WHERE app_id = $1 ORDER BY created_at, id`, id); err != nil {
		t.Fatal(err)
	}
	if len(deploys) != n {
		t.Fatalf("%d deploys recorded, want %d", len(deploys), n)
	}
	for i, d := range deploys {
		switch {
		case i == n-1 && d.Status != "live":
			t.Errorf("the newest deploy is %s (%q), want live", d.Status, d.Error)
		case d.Status == "failed":
			t.Errorf("deploy %d failed: %q", i, d.Error)
		case d.Status == "superseded" && !strings.Contains(d.Error, "newer deploy"):
			t.Errorf("deploy %d superseded without saying by what: %q", i, d.Error)
		case d.Status != "live" && d.Status != "superseded":
			t.Errorf("deploy %d ended %s", i, d.Status)
		}
	}
	newest := deploys[n-1].SHA
	got, _ := b.sandbox.LastBundle(deployment)
	if fmt.Sprintf("%x", sha256.Sum256(got)) != newest {
		t.Errorf("Convex hosting serves another bundle than the newest deploy's")
	}
	// The history shows the superseded ones as such.
	panel := b.waitDeploy(t, c, id)
	var superseded int
	for _, d := range deploys {
		if d.Status == "superseded" {
			superseded++
		}
	}
	if got := strings.Count(panel, `data-status="superseded"`); got != superseded {
		t.Errorf("the history shows %d superseded deploys, want %d", got, superseded)
	}
}

// A bundle that cannot be read from the database while it uploads fails
// the deploy with a message about the bundle, not about the connection.
func TestDeployOfAnUnreadableBundleSaysSo(t *testing.T) {
	t.Parallel()
	b, c, id, _ := connectedApp(t, "grace", "hopper-labs")
	// Convex holds the upload long enough for the bundle to go meanwhile;
	// 20 MB is more than loopback buffers before the server reads.
	b.hostingDelay.Store(int64(time.Second))
	if res := b.upload(t, c, id, randomSite(t, "gone", 20<<20)); res.Status != http.StatusOK {
		t.Fatalf("upload = %d:\n%.400s", res.Status, res.Body)
	}
	if _, err := b.db.Exec(`DELETE FROM bundles`); err != nil {
		t.Fatal(err)
	}
	panel := b.waitDeploy(t, c, id)
	m := regexp.MustCompile(`data-testid="deploy-failure">([^<]*)<`).FindStringSubmatch(panel)
	if m == nil {
		t.Fatalf("the deploy did not fail with a message:\n%s", panel)
	}
	if !strings.Contains(m[1], "bundle") || strings.Contains(m[1], "connect") {
		t.Fatalf("failure message %q does not name the unreadable bundle", m[1])
	}
}
