package sandbox_test

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"chefdeploy/sandbox"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// zipOf builds a zip archive of name -> content.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var siteFiles = map[string]string{
	"index.html":      "<!doctype html><title>Tic tac toe</title>",
	"assets/app.js":   "console.log('hi')",
	"assets/app.css":  "body{}",
	"docs/index.html": "docs",
}

const testDeploySecret = "hosting-secret"

// deploy uploads a bundle to hosting.
func (f *fixture) deploy(t *testing.T, deployment, key, secret, contentType string, body []byte) reply {
	t.Helper()
	h := http.Header{}
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	if secret != "" {
		h.Set("convex-chef-deploy-secret", secret)
	}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return f.send(t, "POST", "/api/hosting/deploy?deploymentName="+deployment, h, bytes.NewReader(body))
}

func TestHostingDeploy(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{DeploySecret: testDeploySecret})
	p := f.connect(t, sandbox.UserAda, "acme", "site")
	other := f.connect(t, sandbox.UserAda, "acme", "other")
	bundle := zipOf(t, siteFiles)

	tests := []struct {
		name, deployment, key, secret, contentType string
		body                                       []byte
		status                                     int
	}{
		{"no secret", p.DeploymentName, p.key, "", "application/zip", bundle, 403},
		{"wrong secret", p.DeploymentName, p.key, "guess", "application/zip", bundle, 403},
		{"no key", p.DeploymentName, "", testDeploySecret, "application/zip", bundle, 401},
		{"admin key", p.DeploymentName, p.AdminKey, testDeploySecret, "application/zip", bundle, 401},
		{"key of another deployment", p.DeploymentName, other.key, testDeploySecret, "application/zip", bundle, 401},
		{"no deployment name", "", p.key, testDeploySecret, "application/zip", bundle, 400},
		{"not a zip", p.DeploymentName, p.key, testDeploySecret, "application/zip", []byte("PK but not really"), 400},
		{"empty zip", p.DeploymentName, p.key, testDeploySecret, "application/zip", zipOf(t, nil), 400},
		{"unsafe names", p.DeploymentName, p.key, testDeploySecret, "application/zip", zipOf(t, map[string]string{"../../etc/x": "x"}), 400},
		{"wrong content type", p.DeploymentName, p.key, testDeploySecret, "text/plain", bundle, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rp := f.deploy(t, tt.deployment, tt.key, tt.secret, tt.contentType, tt.body)
			var e map[string]any
			rp.decode(t, &e)
			if rp.status != tt.status {
				t.Errorf("%d %s, want %d", rp.status, rp.body, tt.status)
			}
		})
	}

	t.Run("accepted", func(t *testing.T) {
		t.Parallel()
		rp := f.deploy(t, p.DeploymentName, p.key, testDeploySecret, "application/zip", bundle)
		var got struct {
			DeploymentName string `json:"deploymentName"`
			SiteURL        string `json:"siteUrl"`
			Bytes          int    `json:"bytes"`
			SHA256         string `json:"sha256"`
		}
		rp.decode(t, &got)
		sum := sha256.Sum256(bundle)
		if rp.status != 200 || got.DeploymentName != p.DeploymentName || got.SiteURL != f.base+"/sites/"+p.DeploymentName+"/" ||
			got.Bytes != len(bundle) || got.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%d %s", rp.status, rp.body)
		}
		if b, ok := f.sb.LastBundle(p.DeploymentName); !ok || !bytes.Equal(b, bundle) {
			t.Errorf("LastBundle: %v, %d bytes", ok, len(b))
		}
		if _, ok := f.sb.LastBundle(other.DeploymentName); ok {
			t.Errorf("LastBundle of a deployment never deployed")
		}
		if got := f.sb.Calls("hosting_deploy", "acme"); got < 1 {
			t.Errorf("Calls(hosting_deploy) = %d", got)
		}
		f.checkSite(t, p.DeploymentName)
		if page := f.send(t, "GET", "/dashboard/d/"+p.DeploymentName, nil, nil); !strings.Contains(string(page.body), got.SiteURL) {
			t.Errorf("the dashboard does not link the site")
		}
	})
}

// checkSite asserts that the files of siteFiles are served.
func (f *fixture) checkSite(t *testing.T, deployment string) {
	t.Helper()
	site := "/sites/" + deployment
	tests := []struct {
		path, contentType, body string
		status                  int
	}{
		{"/", "text/html; charset=utf-8", siteFiles["index.html"], 200},
		{"/index.html", "text/html; charset=utf-8", siteFiles["index.html"], 200},
		{"/assets/app.js", "text/javascript; charset=utf-8", siteFiles["assets/app.js"], 200},
		{"/assets/app.css", "text/css; charset=utf-8", siteFiles["assets/app.css"], 200},
		{"/docs/", "text/html; charset=utf-8", "docs", 200},
		{"/missing.png", "", "", 404},
		{"/assets/", "", "", 404},
		{"/%2e%2e/%2e%2e/state.json", "", "", 404},
		{"/..%2fstate.json", "", "", 404},
	}
	for _, tt := range tests {
		rp := f.send(t, "GET", site+tt.path, nil, nil)
		if rp.status != tt.status {
			t.Errorf("GET %s: %d, want %d", tt.path, rp.status, tt.status)
			continue
		}
		if tt.status != 200 {
			continue
		}
		if ct := rp.header.Get("Content-Type"); ct != tt.contentType || string(rp.body) != tt.body {
			t.Errorf("GET %s: %q %q, want %q %q", tt.path, ct, rp.body, tt.contentType, tt.body)
		}
		if csp := rp.header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox") {
			t.Errorf("GET %s: CSP %q, want the site sandboxed", tt.path, csp)
		}
	}
	rp := f.send(t, "GET", site, nil, nil)
	if rp.status != http.StatusMovedPermanently || rp.header.Get("Location") != f.base+site+"/" {
		t.Errorf("GET %s: %d to %q", site, rp.status, rp.header.Get("Location"))
	}
}

func TestHostingDeployWithoutSecretSetting(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	p := f.connect(t, sandbox.UserGrace, "hopper-labs", "site")
	// Zipping a dist/ folder puts every file under it; the site is served
	// from inside it.
	nested := map[string]string{}
	for name, content := range siteFiles {
		nested["dist/"+name] = content
	}
	if rp := f.deploy(t, p.DeploymentName, p.key, "", "application/zip", zipOf(t, nested)); rp.status != http.StatusOK {
		t.Fatalf("deploy: %d %s", rp.status, rp.body)
	}
	f.checkSite(t, p.DeploymentName)
	if rp := f.send(t, "GET", "/sites/lost-dodo-000/", nil, nil); rp.status != http.StatusNotFound {
		t.Errorf("site of an unknown deployment: %d", rp.status)
	}
}

func TestHostingDeployTooLarge(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{MaxBundleBytes: 1024})
	p := f.connect(t, sandbox.UserAda, "acme", "big")
	var page strings.Builder
	for range 200 {
		page.WriteString(rand.Text()) // random, so it does not compress below the limit
	}
	big := zipOf(t, map[string]string{"index.html": page.String()})
	if len(big) <= 1024 {
		t.Fatalf("test bundle only %d bytes", len(big))
	}
	rp := f.deploy(t, p.DeploymentName, p.key, "", "application/zip", big)
	if rp.status != http.StatusRequestEntityTooLarge {
		t.Errorf("%d %s, want 413", rp.status, rp.body)
	}
	if _, ok := f.sb.LastBundle(p.DeploymentName); ok {
		t.Errorf("a refused bundle was stored")
	}
}
