package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
	"chefdeploy/models"
	"chefdeploy/replica"
)

// With the session cache running, a logout on one replica ends the session
// on every replica, long before the cache's TTL would.
func TestLogoutEndsACachedSessionOnEveryReplica(t *testing.T) {
	t.Parallel()
	a := setup(t)
	replicaB := a.startReplica(t, a.cfg, replica.WithoutWorkers())
	b := httptest.NewServer(replicaB.Handler())
	t.Cleanup(b.Close)

	c := webtest.Browser(t)
	webtest.Login(t, c, a.app.URL, a.cfg.OIDCIssuerURL+"/authorize", "ada")
	appURL, _ := url.Parse(a.app.URL)
	var stolen []string
	for _, ck := range c.Jar.Cookies(appURL) {
		stolen = append(stolen, ck.String())
	}
	// A copy of the cookie, sent as is to either replica; a jar would drop
	// it when the first replica clears it.
	signedIn := func(server string) bool {
		res := webtest.Do(t, http.DefaultClient, "GET", server+"/", nil, "Cookie", strings.Join(stolen, "; "))
		return strings.Contains(res.Body, "Ada Lovelace")
	}
	for range 2 {
		if !signedIn(a.app.URL) || !signedIn(b.URL) {
			t.Fatal("the session does not sign in on both replicas")
		}
	}
	if hits, _ := replicaB.Sessions().Stats(); hits == 0 {
		t.Fatal("replica b did not serve the session from its cache")
	}

	if res := webtest.Do(t, c, "POST", a.app.URL+"/auth/logout", url.Values{}); res.Status != http.StatusSeeOther {
		t.Fatalf("logout = %d", res.Status)
	}
	if signedIn(a.app.URL) {
		t.Fatal("the old cookie still works on the replica that logged out")
	}
	// The other replica learns of it by NOTIFY, within milliseconds; the
	// bound is generous for a loaded machine but well under the TTL.
	deadline := time.Now().Add(models.SessionCacheTTL / 2)
	for signedIn(b.URL) {
		if time.Now().After(deadline) {
			t.Fatal("the other replica still accepts the ended session")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
