package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
)

// Every audited action writes its event, with its actor and app.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	b, ada := signedIn(t, "ada", supportTeam, withEnv("CHECK_CONNECTION_DEADLINE", "3s"))
	id := b.createApp(t, ada, "Audited")
	webtest.Do(t, ada, "POST", b.app.URL+"/apps/"+id+"/rename", url.Values{"name": {"Audited Too"}})
	b.connect(t, ada, id, "black-hole") // deadline_fired
	b.waitFinal(t, ada, id, 15*time.Second)
	b.connect(t, ada, id, "quota-reached") // connect_failed
	b.waitFinal(t, ada, id, 15*time.Second)
	b.connect(t, ada, id, "acme") // connect_succeeded
	b.waitFinal(t, ada, id, 15*time.Second)
	webtest.Do(t, ada, "POST", b.app.URL+"/apps/"+id+"/deploy-key", nil)
	webtest.Do(t, ada, "POST", b.app.URL+"/apps/"+id+"/env", url.Values{"action": {"set"}, "name": {"FLAG"}, "value": {"1"}})
	b.upload(t, ada, id, goodSite(t, "one"))
	panel := b.waitDeploy(t, ada, id)
	b.hostingFailures.Store(10)
	b.upload(t, ada, id, goodSite(t, "two"))
	b.waitDeploy(t, ada, id) // deploy_failed after its retries
	b.hostingFailures.Store(0)
	first := regexp.MustCompile(`data-deploy-id="([^"]+)" data-status="live"`).FindStringSubmatch(panel)[1]
	webtest.Do(t, ada, "POST", b.app.URL+"/apps/"+id+"/deploys/"+first+"/rollback", nil)
	b.waitDeploy(t, ada, id)
	created := webtest.Do(t, ada, "POST", b.app.URL+"/settings/tokens", url.Values{"name": {"ci"}})
	tokenID := regexp.MustCompile(`data-token-id="([^"]+)"`).FindStringSubmatch(created.Body)[1]
	webtest.Do(t, ada, "POST", b.app.URL+"/settings/tokens/"+tokenID+"/revoke", nil)

	sam := webtest.Browser(t)
	b.login(t, sam, "sam") // role_granted: a member of the support team
	webtest.Do(t, sam, "GET", b.app.URL+"/support/apps/"+id, nil)

	other := b.createApp(t, ada, "Stuck")
	if _, err := b.db.Exec(`UPDATE users SET selected_team = 'acme'`); err != nil {
		t.Fatal(err)
	}
	webtest.Do(t, ada, "POST", b.app.URL+"/apps/"+other+"/connect", url.Values{"team": {"black-hole"}}, "HX-Request", "true")
	webtest.Do(t, sam, "POST", b.app.URL+"/support/apps/"+other+"/fail", url.Values{"note": {"stuck"}})
	webtest.Do(t, ada, "POST", b.app.URL+"/apps/"+id+"/disconnect", nil)
	webtest.Do(t, ada, "POST", b.app.URL+"/apps/"+other+"/delete", nil)
	webtest.Do(t, ada, "POST", b.app.URL+"/auth/logout", nil)

	var kinds []string
	if err := b.db.Select(&kinds, `SELECT DISTINCT kind FROM events`); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, k := range kinds {
		have[k] = true
	}
	for _, want := range []string{
		"login", "logout", "app_created", "app_renamed", "app_deleted",
		"connect_started", "connect_succeeded", "connect_failed", "deadline_fired", "disconnected",
		"deploy_started", "deploy_done", "deploy_failed", "rollback", "deploy_key_revealed",
		"env_var_changed", "api_token_created", "api_token_revoked",
		"role_granted", "support_viewed_app", "support_marked_failed",
	} {
		if !have[want] {
			t.Errorf("no %s event", want)
		}
	}
	var anonymous int
	if err := b.db.Get(&anonymous, `SELECT count(*) FROM events WHERE actor_id IS NULL AND kind IN ('app_created', 'deploy_started', 'rollback', 'support_marked_failed')`); err != nil {
		t.Fatal(err)
	}
	if anonymous != 0 {
		t.Errorf("%d user actions recorded without their actor", anonymous)
	}
	// Support sees the whole trail, events without an app included.
	trail := webtest.Do(t, sam, "GET", b.app.URL+"/support/events", nil)
	for _, kind := range []string{"login", "logout", "api_token_created", "role_granted", "deploy_failed"} {
		if !strings.Contains(trail.Body, `data-kind="`+kind+`"`) {
			t.Errorf("the support trail lacks %s", kind)
		}
	}
	if res := webtest.Do(t, sam, "GET", b.app.URL+"/support/events?before=x", nil); res.Status != http.StatusUnprocessableEntity {
		t.Errorf("a bad page link = %d, want 422", res.Status)
	}
	if res := webtest.Do(t, ada, "GET", b.app.URL+"/", nil); res.Status != http.StatusOK {
		t.Fatal("home after logout")
	}
}
