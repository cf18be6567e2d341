package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
	"chefdeploy/models/dbtest"
)

// failed asserts that a request answered with the error page, not a success,
// and without the database's own words.
func failed(t *testing.T, what string, res webtest.Response) {
	t.Helper()
	if res.Status != http.StatusInternalServerError {
		t.Errorf("%s with its event refused = %d, want 500:\n%s", what, res.Status, res.Body)
	}
	if strings.Contains(res.Body, "refuses") {
		t.Errorf("%s shows the database's error to the user:\n%s", what, res.Body)
	}
}

// count runs a count(*) query; a failed query fails the test.
func (b *bundle) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := b.db.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// A change whose audit event cannot be written does not happen, and the
// person is told it failed.
func TestAuditedChangeFailsWithItsEvent(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	id := b.createApp(t, c, "Kept")
	created := webtest.Do(t, c, "POST", b.app.URL+"/settings/tokens", url.Values{"name": {"old"}})
	tokenID := regexp.MustCompile(`data-token-id="([^"]+)"`).FindStringSubmatch(created.Body)[1]
	dbtest.RefuseEvents(t, b.db, "app_created", "app_renamed", "app_deleted", "api_token_created", "api_token_revoked")

	failed(t, "create app", webtest.Do(t, c, "POST", b.app.URL+"/apps", url.Values{"name": {"Ghost"}}))
	if n := b.count(t, `SELECT count(*) FROM apps WHERE name = 'Ghost'`); n != 0 {
		t.Errorf("the app was created without its event")
	}

	failed(t, "rename", webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/rename", url.Values{"name": {"Renamed"}}))
	if n := b.count(t, `SELECT count(*) FROM apps WHERE id = $1 AND name = 'Kept'`, id); n != 1 {
		t.Errorf("the app was renamed without its event")
	}

	failed(t, "delete", webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/delete", nil, "HX-Request", "true"))
	if n := b.count(t, `SELECT count(*) FROM apps WHERE id = $1`, id); n != 1 {
		t.Errorf("the app was deleted without its event")
	}

	res := webtest.Do(t, c, "POST", b.app.URL+"/settings/tokens", url.Values{"name": {"ci"}})
	failed(t, "create token", res)
	if strings.Contains(res.Body, "cdp_") {
		t.Errorf("a token was shown though its creation was not recorded")
	}
	if n := b.count(t, `SELECT count(*) FROM api_tokens WHERE name = 'ci'`); n != 0 {
		t.Errorf("the token was created without its event")
	}

	failed(t, "revoke token", webtest.Do(t, c, "POST", b.app.URL+"/settings/tokens/"+tokenID+"/revoke", nil))
	if n := b.count(t, `SELECT count(*) FROM api_tokens WHERE id = $1 AND revoked_at IS NULL`, tokenID); n != 1 {
		t.Errorf("the token was revoked without its event")
	}
}

// A reveal or a view whose audit event cannot be written shows nothing.
func TestAuditedReadFailsWithItsEvent(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada", supportTeam)
	id := b.createApp(t, c, "Secret")
	b.connect(t, c, id, "acme")
	if stateOf(t, b.waitFinal(t, c, id, 15*time.Second).Body) != "connected" {
		t.Fatal("app did not connect")
	}
	sam := webtest.Browser(t)
	b.login(t, sam, "sam")
	dbtest.RefuseEvents(t, b.db, "deploy_key_revealed", "env_var_changed", "support_viewed_app")

	reveal := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/deploy-key", url.Values{}, "HX-Request", "true")
	failed(t, "reveal", reveal)
	if strings.Contains(reveal.Body, "CONVEX_DEPLOY_KEY") || strings.Contains(reveal.Body, "project:acme") {
		t.Errorf("the deploy key was shown though its reveal was not recorded:\n%s", reveal.Body)
	}

	creds := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/dashboard/credentials", nil)
	failed(t, "dashboard credentials", creds)
	if strings.Contains(creds.Body, "adminKey") || strings.Contains(creds.Body, "project:acme") {
		t.Errorf("the dashboard got the deploy key though its reveal was not recorded:\n%s", creds.Body)
	}

	env := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/env", url.Values{"action": {"set"}, "name": {"FLAG"}, "value": {"1"}}, "HX-Request", "true")
	failed(t, "set variable", env)
	if n := b.count(t, `SELECT count(*) FROM app_env_vars WHERE app_id = $1 AND name = 'FLAG'`, id); n != 0 {
		t.Errorf("the variable was tracked without its event")
	}

	failed(t, "support view", webtest.Do(t, sam, "GET", b.app.URL+"/support/apps/"+id, nil))
}

// A login whose event cannot be written opens no session and stores no user.
func TestLoginFailsWithItsEvent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dbtest.RefuseEvents(t, b.db, "login")
	c := webtest.Browser(t)
	callback := webtest.PickUser(t, c, b.cfg.OIDCIssuerURL+"/authorize", webtest.StartLogin(t, c, b.app.URL), "ada")
	failed(t, "login", webtest.Do(t, c, "GET", callback, nil))
	if n := b.count(t, `SELECT count(*) FROM users`); n != 0 {
		t.Errorf("the user was stored without the login event")
	}
	if n := b.count(t, `SELECT count(*) FROM sessions`); n != 0 {
		t.Errorf("a session was opened without the login event")
	}
	if res := webtest.Do(t, c, "GET", b.app.URL+"/settings", nil); res.Status != http.StatusFound {
		t.Errorf("settings after a failed login = %d, want the login redirect", res.Status)
	}
}

// A logout ends the session even when its event cannot be written; the lost
// event is logged as an error with the request id.
func TestLogoutEndsTheSessionWhenItsEventFails(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	dbtest.RefuseEvents(t, b.db, "logout")
	res := webtest.Do(t, c, "POST", b.app.URL+"/auth/logout", nil)
	if res.Status != http.StatusSeeOther {
		t.Errorf("logout = %d, want 303", res.Status)
	}
	if n := b.count(t, `SELECT count(*) FROM sessions`); n != 0 {
		t.Errorf("the session outlived the logout")
	}
	if res := webtest.Do(t, c, "GET", b.app.URL+"/settings", nil); res.Status != http.StatusFound {
		t.Errorf("settings after logout = %d, want the login redirect", res.Status)
	}
	logs := b.logs.String()
	if !regexp.MustCompile(`level=ERROR msg="recording the logout[^\n]*request_id=\S+`).MatchString(logs) {
		t.Errorf("the lost logout event is not logged as an error with the request id:\n%s", logs)
	}
}

// Support membership seen at login is not stored when its role_granted event
// cannot be written: no role without its audit line.
func TestSupportRoleNotGrantedWithoutItsEvent(t *testing.T) {
	t.Parallel()
	b := setup(t, supportTeam)
	dbtest.RefuseEvents(t, b.db, "role_granted")
	sam := webtest.Browser(t)
	b.login(t, sam, "sam")
	if n := b.count(t, `SELECT count(*) FROM users WHERE support_team_member`); n != 0 {
		t.Errorf("the support role was stored without its event")
	}
	if res := webtest.Do(t, sam, "GET", b.app.URL+"/support", nil); res.Status != http.StatusForbidden {
		t.Errorf("support console without a recorded grant = %d, want 403", res.Status)
	}
}

// A deploy is not marked live unless its deploy_done event is written with it.
func TestDeployFinishFailsWithItsEvent(t *testing.T) {
	t.Parallel()
	b, c, id, _ := connectedApp(t, "ada", "acme")
	dbtest.RefuseEvents(t, b.db, "deploy_done")
	if res := b.upload(t, c, id, goodSite(t, "one")); res.Status >= 300 {
		t.Fatalf("upload = %d:\n%s", res.Status, res.Body)
	}
	// Wait for the upload job to finish its first attempt, one way or the other.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'hosting_deploy' AND (state = 'completed' OR cardinality(errors) > 0)`)
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the upload job did not run")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := b.count(t, `SELECT count(*) FROM deploys WHERE app_id = $1 AND status = 'live'`, id); n != 0 {
		t.Errorf("the deploy is live without its deploy_done event")
	}
	if n := b.count(t, `SELECT count(*) FROM apps WHERE id = $1 AND last_deployed_at IS NOT NULL`, id); n != 0 {
		t.Errorf("the app is marked deployed without its deploy_done event")
	}
}
