package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"chefdeploy/handlers/webtest"
)

// TestSignInReturnsToTheAskedPage: a signed-out link to a page goes through
// the sign-in and lands on that page, a local path only.
func TestSignInReturnsToTheAskedPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	res := webtest.Do(t, c, "GET", b.app.URL+"/settings?tab=tokens", nil)
	if res.Status != http.StatusFound || res.Header.Get("Location") != "/auth/login?return=%2Fsettings%3Ftab%3Dtokens" {
		t.Fatalf("signed-out /settings = %d → %q, want 302 to the login with the return path", res.Status, res.Header.Get("Location"))
	}
	if got := signInFrom(t, b, c, "/auth/login?return=%2Fsettings%3Ftab%3Dtokens"); got != "/settings?tab=tokens" {
		t.Fatalf("after sign-in the browser goes to %q, want /settings?tab=tokens", got)
	}
}

// TestSignInReturnRefusesOtherSites: a return that is not a local path is
// dropped, so the login is no open redirect.
func TestSignInReturnRefusesOtherSites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, evil := range []string{"//evil.com", `/\evil.com`, "https://evil.com", "evil.com", "javascript:alert(1)"} {
		c := webtest.Browser(t)
		if got := signInFrom(t, b, c, "/auth/login?return="+url.QueryEscape(evil)); got != "/" {
			t.Errorf("return=%q: after sign-in the browser goes to %q, want /", evil, got)
		}
	}
}

// signInFrom starts the login at path, signs in as Ada and returns where
// the callback sends the browser.
func signInFrom(t *testing.T, b *bundle, c *http.Client, path string) string {
	t.Helper()
	res := webtest.Do(t, c, "GET", b.app.URL+path, nil)
	if res.Status != http.StatusFound {
		t.Fatalf("%s = %d, want 302", path, res.Status)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	callback := webtest.PickUser(t, c, b.authorizeURL(), loc.Query(), "ada")
	done := webtest.Do(t, c, "GET", callback, nil)
	if done.Status != http.StatusSeeOther {
		t.Fatalf("callback = %d: %s", done.Status, done.Body)
	}
	return done.Header.Get("Location")
}

// TestCancelledSignIn: denying on the provider's page says the sign-in was
// cancelled, offers to try again, and returns to the asked-for page then.
func TestCancelledSignIn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	res := webtest.Do(t, c, "GET", b.app.URL+"/auth/login?return=%2Fsettings", nil)
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{}
	for k, v := range loc.Query() {
		form[k] = v
	}
	form.Set("action", "deny")
	deny := webtest.Do(t, c, "POST", b.authorizeURL(), form)
	if deny.Status != http.StatusFound || !strings.Contains(deny.Header.Get("Location"), "error=access_denied") {
		t.Fatalf("sandbox deny = %d → %q", deny.Status, deny.Header.Get("Location"))
	}
	page := webtest.Do(t, c, "GET", deny.Header.Get("Location"), nil)
	if page.Status != http.StatusOK || !strings.Contains(page.Body, "Sign-in was cancelled") || strings.Contains(page.Body, "Error 400") {
		t.Fatalf("cancelled sign-in = %d:\n%s", page.Status, page.Body)
	}
	if !strings.Contains(page.Body, `href="/auth/login?return=%2Fsettings"`) {
		t.Errorf("the cancelled page does not offer to try again, back to /settings:\n%s", page.Body)
	}
	if n := b.tokenCalls.Load(); n != 0 {
		t.Fatalf("a cancelled sign-in exchanged a code (%d token calls)", n)
	}
}

// TestExpiredSignInSignsInAgain: "Sign in again" after an expired sign-in
// goes through the provider even though the session still exists, and comes
// back to the app; a plain /auth/login while signed in goes to the page.
func TestExpiredSignInSignsInAgain(t *testing.T) {
	t.Parallel()
	b, c := signedIn(t, "ada")
	id := b.createApp(t, c, "Expired")
	back := url.QueryEscape("/apps/" + id)
	if res := webtest.Do(t, c, "GET", b.app.URL+"/auth/login?return="+back, nil); res.Status != http.StatusFound || res.Header.Get("Location") != "/apps/"+id {
		t.Fatalf("signed-in /auth/login = %d → %q, want the app", res.Status, res.Header.Get("Location"))
	}
	if got := signInFrom(t, b, c, "/auth/login?reauth=1&return="+back); got != "/apps/"+id {
		t.Fatalf("after signing in again the browser goes to %q, want /apps/%s", got, id)
	}
}

// TestSignedOutHTMXRequestReturnsToItsPage: a poll whose session ended is
// sent to the sign-in, which comes back to the page the poll ran in (on
// this site only).
func TestSignedOutHTMXRequestReturnsToItsPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	res := webtest.Do(t, c, "GET", b.app.URL+"/apps/x/status", nil, "HX-Request", "true", "HX-Current-URL", b.app.URL+"/apps/x")
	if res.Status != http.StatusUnauthorized || res.Header.Get("HX-Redirect") != "/auth/login?return=%2Fapps%2Fx" {
		t.Errorf("signed-out poll = %d, HX-Redirect %q", res.Status, res.Header.Get("HX-Redirect"))
	}
	foreign := webtest.Do(t, c, "GET", b.app.URL+"/apps/x/status", nil, "HX-Request", "true", "HX-Current-URL", "https://evil.com/apps/x")
	if foreign.Header.Get("HX-Redirect") != "/auth/login" {
		t.Errorf("a foreign HX-Current-URL gives HX-Redirect %q", foreign.Header.Get("HX-Redirect"))
	}
}
