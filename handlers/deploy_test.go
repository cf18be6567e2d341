package handlers_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
)

// siteZip builds a zip of a small site; extra files are added as given.
func siteZip(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func goodSite(t *testing.T, marker string) []byte {
	t.Helper()
	return siteZip(t, map[string]string{
		"index.html":    "<!doctype html><title>" + marker + "</title><h1>" + marker + "</h1>",
		"assets/app.js": "console.log(" + fmt.Sprintf("%q", marker) + ")",
	})
}

// upload posts a bundle the way the deploy form does.
func (b *bundle) upload(t *testing.T, c *http.Client, appID string, zipBytes []byte) webtest.Response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("bundle", "dist.zip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(zipBytes); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", b.app.URL+"/apps/"+appID+"/deploys", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("HX-Request", "true")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return webtest.Response{Status: res.StatusCode, Header: res.Header, Body: string(raw)}
}

// deployRow is one row of the deploy history: its id and status.
var deployRow = regexp.MustCompile(`data-testid="deploy-row" data-deploy-id="([^"]+)" data-status="([a-z]+)"`)

// waitDeploy polls the deploy panel until the newest deploy is final.
func (b *bundle) waitDeploy(t *testing.T, c *http.Client, appID string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+appID+"/deploys", nil, "HX-Request", "true")
		m := regexp.MustCompile(`data-testid="deploy-steps" data-status="([a-z]+)"`).FindStringSubmatch(res.Body)
		if m != nil && m[1] != "uploading" {
			return res.Body
		}
		if time.Now().After(deadline) {
			t.Fatalf("deploy not final:\n%s", res.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connectedApp is a signed-in user with an app connected on team.
func connectedApp(t *testing.T, user, team string) (*bundle, *http.Client, string, string) {
	t.Helper()
	b, c := signedIn(t, user)
	id := b.createApp(t, c, "Site "+team)
	b.connect(t, c, id, team)
	if stateOf(t, b.waitFinal(t, c, id, 15*time.Second).Body) != "connected" {
		t.Fatal("app did not connect")
	}
	return b, c, id, b.sandbox.Projects(team)[0].DeploymentName
}

func TestDeployHappyPathAndRollback(t *testing.T) {
	t.Parallel()
	b, c, id, deployment := connectedApp(t, "grace", "hopper-labs")
	v1, v2 := goodSite(t, "version one"), goodSite(t, "version two")

	res := b.upload(t, c, id, v1)
	var firstID string
	if err := b.db.Get(&firstID, `SELECT id FROM deploys WHERE app_id = $1 AND bundle_sha256 = $2`, id, fmt.Sprintf("%x", sha256.Sum256(v1))); err != nil {
		t.Fatal(err)
	}
	// The upload job may finish before the answer is rendered, so the answer
	// shows this one deploy either still uploading or already live.
	answered := deployRow.FindAllStringSubmatch(res.Body, -1)
	if res.Status != http.StatusOK || len(answered) != 1 || answered[0][1] != firstID || (answered[0][2] != "uploading" && answered[0][2] != "live") {
		t.Fatalf("upload = %d, want deploy %s uploading or live:\n%s", res.Status, firstID, res.Body)
	}
	panel := b.waitDeploy(t, c, id)
	if !strings.Contains(panel, `data-testid="deploy-steps" data-status="live"`) || !strings.Contains(panel, `data-deploy-id="`+firstID+`" data-status="live"`) {
		t.Fatalf("first deploy not live:\n%s", panel)
	}
	if got, _ := b.sandbox.LastBundle(deployment); !bytes.Equal(got, v1) {
		t.Fatal("the sandbox did not receive exactly the uploaded zip")
	}
	b.waitMetric(t, c, `chefdeploy_deploys_total{outcome="live"} 1`)
	site := webtest.Do(t, c, "GET", b.sandboxURL+"/sites/"+deployment+"/", nil)
	if !strings.Contains(site.Body, "version one") {
		t.Fatalf("site not served: %d %s", site.Status, site.Body)
	}

	if res := b.upload(t, c, id, v2); res.Status != http.StatusOK {
		t.Fatalf("second upload = %d:\n%s", res.Status, res.Body)
	}
	panel = b.waitDeploy(t, c, id)
	if got, _ := b.sandbox.LastBundle(deployment); !bytes.Equal(got, v2) {
		t.Fatal("second deploy not uploaded")
	}
	rows := regexp.MustCompile(`data-testid="deploy-row" data-deploy-id="([^"]+)" data-status="live"`).FindAllStringSubmatch(panel, -1)
	if len(rows) != 2 || rows[1][1] != firstID { // newest first
		t.Fatalf("history shows %d live deploys, want 2, the older %s:\n%s", len(rows), firstID, panel)
	}
	first := rows[1][1]
	rb := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/deploys/"+first+"/rollback", nil, "HX-Request", "true")
	if rb.Status != http.StatusOK {
		t.Fatalf("rollback = %d:\n%s", rb.Status, rb.Body)
	}
	panel = b.waitDeploy(t, c, id)
	if got, _ := b.sandbox.LastBundle(deployment); !bytes.Equal(got, v1) {
		t.Fatal("rollback did not redeploy the identical bytes of the first bundle")
	}
	if !strings.Contains(panel, ">rollback<") {
		t.Error("history does not mark the rollback")
	}
	var bundles int
	if err := b.db.Get(&bundles, `SELECT count(*) FROM bundles`); err != nil {
		t.Fatal(err)
	}
	if bundles != 2 {
		t.Errorf("%d bundles stored for 2 distinct uploads, want 2 (deduplicated)", bundles)
	}
	dash := webtest.Do(t, c, "GET", b.app.URL+"/", nil)
	if !strings.Contains(dash.Body, `data-testid="app-deployed"`) {
		t.Error("dashboard does not mark the app deployed")
	}
}

func TestDeployRefusesBadBundlesAndSendsNothing(t *testing.T) {
	t.Parallel()
	b, c, id, _ := connectedApp(t, "grace", "hopper-labs")
	symlink := func() []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		if _, err := zw.Create("index.html"); err != nil {
			t.Fatal(err)
		}
		h := &zip.FileHeader{Name: "link", Method: zip.Store}
		h.SetMode(0o777 | 1<<27) // os.ModeSymlink
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, "/etc/passwd"); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	bomb := func() []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, err := zw.Create("index.html")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, "<h1>hi</h1>"); err != nil {
			t.Fatal(err)
		}
		if w, err = zw.Create("zeros.bin"); err != nil {
			t.Fatal(err)
		}
		zero := make([]byte, 1<<20)
		for range 300 {
			if _, err := w.Write(zero); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	cases := map[string]struct {
		zip  []byte
		want string
	}{
		"not a zip":     {[]byte("this is not a zip file"), "refused"},
		"no index.html": {siteZip(t, map[string]string{"main.js": "x"}), "index.html"},
		"dot dot":       {siteZip(t, map[string]string{"index.html": "x", "../evil.js": "x"}), "refused"},
		"absolute path": {siteZip(t, map[string]string{"index.html": "x", "/etc/evil": "x"}), "refused"},
		"symlink":       {symlink, "refused"},
		"zip bomb":      {bomb, "refused"},
		".env":          {siteZip(t, map[string]string{"index.html": "x", ".env": "SECRET=1"}), ".env"},
		".git/config":   {siteZip(t, map[string]string{"index.html": "x", ".git/config": "[core]"}), ".git/config"},
		"NUL in a name": {siteZip(t, map[string]string{"index.html": "x", "a\x00.js": "x"}), "control character"},
	}
	for name, tc := range cases {
		res := b.upload(t, c, id, tc.zip)
		if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Body, `data-testid="deploy-error"`) || !strings.Contains(res.Body, tc.want) {
			t.Errorf("%s: %d, want 422 with a message:\n%.600s", name, res.Status, res.Body)
		}
	}
	if n := b.hostingCalls.Load(); n != 0 {
		t.Fatalf("%d refused bundles reached Convex hosting", n)
	}
	var deploys, bundles int
	if err := b.db.Get(&deploys, `SELECT count(*) FROM deploys`); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Get(&bundles, `SELECT count(*) FROM bundles`); err != nil {
		t.Fatal(err)
	}
	if deploys != 0 || bundles != 0 {
		t.Fatalf("refused bundles left %d deploys and %d bundles", deploys, bundles)
	}
}

func TestDeployTooBig(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "grace", withEnv("MAX_BUNDLE_BYTES", "1048576"))
	id := b.createApp(t, c, "Big")
	b.connect(t, c, id, "hopper-labs")
	b.waitFinal(t, c, id, 15*time.Second)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "index.html", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("x"), 2<<20)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	res := b.upload(t, c, id, buf.Bytes())
	if res.Status != http.StatusRequestEntityTooLarge || !strings.Contains(res.Body, "larger than 1 MiB") {
		t.Fatalf("too big = %d:\n%.500s", res.Status, res.Body)
	}
	if b.hostingCalls.Load() != 0 {
		t.Fatal("a too-big bundle reached Convex hosting")
	}
}

func TestDeployRetriesAfterA500(t *testing.T) {
	t.Parallel()
	b, c, id, deployment := connectedApp(t, "grace", "hopper-labs")
	b.hostingFailures.Store(1)
	site := goodSite(t, "retried")
	b.upload(t, c, id, site)
	panel := b.waitDeploy(t, c, id)
	if !strings.Contains(panel, `data-testid="deploy-steps" data-status="live"`) {
		t.Fatalf("deploy after one 500 is not live:\n%s", panel)
	}
	if got, _ := b.sandbox.LastBundle(deployment); !bytes.Equal(got, site) || b.hostingCalls.Load() != 2 {
		t.Fatalf("want the identical bytes after exactly 2 calls, got %d calls", b.hostingCalls.Load())
	}
}

func TestPruningKeepsFiveBundles(t *testing.T) {
	t.Parallel()
	b, c, id, _ := connectedApp(t, "grace", "hopper-labs")
	for i := range 7 {
		b.upload(t, c, id, goodSite(t, fmt.Sprintf("version %d", i)))
		b.waitDeploy(t, c, id)
	}
	var bundles, deploys int
	if err := b.db.Get(&bundles, `SELECT count(*) FROM bundles`); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Get(&deploys, `SELECT count(*) FROM deploys`); err != nil {
		t.Fatal(err)
	}
	if bundles != 5 || deploys != 7 {
		t.Fatalf("%d bundles and %d deploys, want 5 kept and all 7 in the history", bundles, deploys)
	}
	panel := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/deploys", nil, "HX-Request", "true")
	if n := strings.Count(panel.Body, `data-testid="rollback"`); n != 4 {
		t.Errorf("%d rollback buttons, want 4 (5 kept bundles less the live one)", n)
	}
	oldest := regexp.MustCompile(`data-testid="deploy-row" data-deploy-id="([^"]+)"`).FindAllStringSubmatch(panel.Body, -1)
	res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/deploys/"+oldest[len(oldest)-1][1]+"/rollback", nil, "HX-Request", "true")
	if res.Status != http.StatusGone || !strings.Contains(res.Body, "no longer kept") {
		t.Fatalf("rollback to a pruned bundle = %d", res.Status)
	}
}

func TestAnotherUsersDeploysAreNotFound(t *testing.T) {
	t.Parallel()
	b, grace, id, _ := connectedApp(t, "grace", "hopper-labs")
	b.upload(t, grace, id, goodSite(t, "mine"))
	panel := b.waitDeploy(t, grace, id)
	deployID := regexp.MustCompile(`data-deploy-id="([^"]+)"`).FindStringSubmatch(panel)[1]

	ada := webtest.Browser(t)
	b.login(t, ada, "ada")
	for _, rt := range []struct{ method, path string }{
		{"GET", "/apps/" + id + "/deploys"},
		{"POST", "/apps/" + id + "/deploys/" + deployID + "/rollback"},
		{"POST", "/apps/" + id + "/deploys/not-a-uuid/rollback"},
	} {
		if res := webtest.Do(t, ada, rt.method, b.app.URL+rt.path, url.Values{}); res.Status != http.StatusNotFound {
			t.Errorf("%s %s as another user = %d", rt.method, rt.path, res.Status)
		}
	}
	if res := b.upload(t, ada, id, goodSite(t, "theirs")); res.Status != http.StatusNotFound {
		t.Errorf("upload to another user's app = %d", res.Status)
	}
}
