package handlers_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
)

// platformSites is a signed-in bundle in platform mode whose sites listener
// is served by an httptest.Server at SITES_ADDR, and the sites' base URL.
func platformSites(t *testing.T, user string) (*bundle, *http.Client, *httptest.Server) {
	t.Helper()
	sitesSrv := httptest.NewUnstartedServer(nil)
	t.Cleanup(sitesSrv.Close)
	b, c := signedIn(t, user, func(o *setupOptions) {
		o.env = map[string]string{"CONVEX_API": "platform", "SITES_ADDR": sitesSrv.Listener.Addr().String()}
	})
	if b.sites == nil {
		t.Fatal("platform mode has no sites handler")
	}
	sitesSrv.Config.Handler = b.sites
	sitesSrv.Start()
	return b, c, sitesSrv
}

// TestPlatformDeployIsServedBySitesListener: in platform mode a deploy is
// unpacked and served by our own sites listener at the "View site" link; a
// second deploy replaces it, and a rollback brings back the first without
// any upload to Convex.
func TestPlatformDeployIsServedBySitesListener(t *testing.T) {
	t.Parallel()
	b, c, sitesSrv := platformSites(t, "ada")
	id := b.createApp(t, c, "Hosted Here")
	if res := b.authorizeTeam(t, c, "?team=acme&return=/apps/"+id, "ada", "acme"); res.Status != http.StatusSeeOther && res.Status != http.StatusFound {
		t.Fatalf("authorizing acme = %d: %s", res.Status, res.Body)
	}
	b.connect(t, c, id, "acme")
	if st := stateOf(t, b.waitFinal(t, c, id, 15*time.Second).Body); st != "connected" {
		t.Fatalf("platform connect = %s", st)
	}

	if res := b.upload(t, c, id, goodSite(t, "first platform deploy")); res.Status != http.StatusOK {
		t.Fatalf("deploy = %d: %s", res.Status, res.Body)
	}
	panel := b.waitDeploy(t, c, id)
	link := regexp.MustCompile(`data-testid="site-link"`).FindStringIndex(panel)
	siteURL := regexp.MustCompile(`href="([^"]+)"[^>]*data-testid="site-link"`).FindStringSubmatch(panel)
	if link == nil || siteURL == nil || !strings.HasPrefix(siteURL[1], sitesSrv.URL+"/") {
		t.Fatalf("View site does not point at the sites listener %s:\n%s", sitesSrv.URL, panel)
	}
	if n := strings.Count(panel, `data-testid="deploy-live"`); n != 1 {
		t.Errorf("%d deploys marked Live, want 1", n)
	}
	firstID := deployRow.FindStringSubmatch(panel)[1]
	expectSite(t, siteURL[1], "first platform deploy")

	if res := b.upload(t, c, id, goodSite(t, "second platform deploy")); res.Status != http.StatusOK {
		t.Fatalf("second deploy = %d", res.Status)
	}
	b.waitDeploy(t, c, id)
	expectSite(t, siteURL[1], "second platform deploy")

	res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/deploys/"+firstID+"/rollback", nil, "HX-Request", "true")
	if res.Status != http.StatusOK {
		t.Fatalf("rollback = %d: %s", res.Status, res.Body)
	}
	panel = b.waitDeploy(t, c, id)
	expectSite(t, siteURL[1], "first platform deploy")
	rows := regexp.MustCompile(`data-testid="deploy-row" data-deploy-id="[^"]+" data-status="([a-z]+)" data-live="([a-z]+)"`).FindAllStringSubmatch(panel, -1)
	if len(rows) != 3 || rows[0][1] != "live" || rows[0][2] != "true" || rows[1][2] != "false" || rows[2][2] != "false" {
		t.Errorf("deploy rows (status, live) = %v, want the rollback alone live", rows)
	}
	if hits := b.sandboxHits("/api/hosting"); len(hits) != 0 {
		t.Errorf("platform mode called Convex hosting: %v", hits)
	}

	// Disconnect takes the site down.
	if res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/disconnect", nil, "HX-Request", "true"); res.Status != http.StatusOK {
		t.Fatalf("disconnect = %d", res.Status)
	}
	deadline := time.Now().Add(10 * time.Second)
	for status, _ := fetch(t, siteURL[1]); status != http.StatusNotFound; status, _ = fetch(t, siteURL[1]) {
		if time.Now().After(deadline) {
			t.Fatalf("the site still answers %d after disconnect", status)
		}
		time.Sleep(10 * time.Millisecond) // polling the site, with a deadline
	}
}

// TestProductRefusesPostsFromSitesOrigin: a page of a deployed site that
// posts a form to the product is cross-origin, and refused as such, though
// the sites listener shares the product's host name.
func TestProductRefusesPostsFromSitesOrigin(t *testing.T) {
	t.Parallel()
	b, c, sitesSrv := platformSites(t, "ada")
	before := b.count(t, `SELECT count(*) FROM apps`)
	for _, headers := range [][]string{
		{"Origin", sitesSrv.URL, "Sec-Fetch-Site", "same-site"},
		{"Origin", sitesSrv.URL}, // an older browser: no Sec-Fetch-Site
	} {
		res := webtest.Do(t, c, "POST", b.app.URL+"/apps", url.Values{"name": {"From a site"}}, headers...)
		if res.Status != http.StatusForbidden {
			t.Errorf("POST /apps from the sites origin (%v) = %d, want 403", headers, res.Status)
		}
	}
	if after := b.count(t, `SELECT count(*) FROM apps`); after != before {
		t.Errorf("apps %d → %d: a cross-origin post created one", before, after)
	}
	// The same form from the product's own origin works.
	res := webtest.Do(t, c, "POST", b.app.URL+"/apps", url.Values{"name": {"From the product"}}, "Origin", b.app.URL, "Sec-Fetch-Site", "same-origin")
	if res.Status != http.StatusSeeOther {
		t.Errorf("same-origin POST /apps = %d, want 303", res.Status)
	}
}

func fetch(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Header.Values("Set-Cookie"); len(c) > 0 {
		t.Errorf("the site set cookies: %q", c)
	}
	return res.StatusCode, string(body)
}

// expectSite polls the site until it serves want (the flip reaches the
// site cache by NOTIFY, a moment after its commit).
func expectSite(t *testing.T, u, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := fetch(t, u)
		if status == http.StatusOK && strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answers %d %.200q, want %q", u, status, body, want)
		}
		time.Sleep(10 * time.Millisecond) // polling the site, with a deadline
	}
}
