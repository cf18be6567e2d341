// Package webtest drives chefdeploy over HTTP the way a browser does, for the
// tests of the handlers and of the whole program, and holds what those tests
// share to run a server: a free address and a buffer for its log.
package webtest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// Browser is an HTTP client with a cookie jar that does not follow redirects,
// so tests see each step the way a browser takes it.
func Browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Response is what a request got back.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Do sends a request; form, when not nil, is sent url-encoded; headers come in
// name, value pairs.
func Do(t testing.TB, c *http.Client, method, target string, form url.Values, headers ...string) Response {
	t.Helper()
	res, err := Send(c, method, target, form, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Send is Do for goroutines other than the test's, which must not call
// t.Fatal: it returns the error instead.
func Send(c *http.Client, method, target string, form url.Values, headers ...string) (Response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return Response{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: reading the answer: %w", method, target, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: string(raw)}, nil
}

// StartLogin follows appURL/auth/login to the authorize page and returns the
// authorize URL's query.
func StartLogin(t testing.TB, c *http.Client, appURL string) url.Values {
	t.Helper()
	res := Do(t, c, "GET", appURL+"/auth/login", nil)
	if res.Status != http.StatusFound {
		t.Fatalf("/auth/login = %d, want 302", res.Status)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc.Query()
}

// PickUser opens the sandbox's OIDC sign-in page (authorizeURL is
// {sandbox}/oidc/authorize), submits its form as the demo user and returns
// the callback URL the sandbox redirects to.
func PickUser(t testing.TB, c *http.Client, authorizeURL string, q url.Values, user string) string {
	t.Helper()
	page := Do(t, c, "GET", authorizeURL+"?"+q.Encode(), nil)
	if page.Status != http.StatusOK || !strings.Contains(page.Body, "sandbox-user-"+user) {
		t.Fatalf("sandbox authorize page = %d, no button for %s", page.Status, user)
	}
	form := url.Values{}
	for k, v := range q {
		form[k] = v
	}
	form.Set("user", user)
	res := Do(t, c, "POST", authorizeURL, form)
	if res.Status != http.StatusFound {
		t.Fatalf("sandbox consent = %d: %s", res.Status, res.Body)
	}
	return res.Header.Get("Location")
}

// Login signs the browser in at appURL as a sandbox demo user.
func Login(t testing.TB, c *http.Client, appURL, authorizeURL, user string) {
	t.Helper()
	q := StartLogin(t, c, appURL)
	callback := PickUser(t, c, authorizeURL, q, user)
	res := Do(t, c, "GET", callback, nil)
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("callback = %d %q: %s", res.Status, res.Header.Get("Location"), res.Body)
	}
}

// TeamConsent drives the sandbox's team consent page at consent (the URL
// /teams/authorize redirected to) as a browser would: it picks the demo
// user, then the team. It returns the team pick page and the callback URL
// the sandbox redirects to.
func TeamConsent(t testing.TB, c *http.Client, consent *url.URL, user, team string) (pickPage, callback string) {
	t.Helper()
	first := Do(t, c, "GET", consent.String(), nil)
	if first.Status != http.StatusOK || !strings.Contains(first.Body, "sandbox-user-"+user) {
		t.Fatalf("team consent page = %d, no button for %s", first.Status, user)
	}
	endpoint := consent.Scheme + "://" + consent.Host + consent.Path
	form := consent.Query()
	form.Set("user", user)
	pick := Do(t, c, "POST", endpoint, form)
	if pick.Status != http.StatusOK || !strings.Contains(pick.Body, `data-testid="sandbox-team-`+team+`"`) {
		t.Fatalf("team pick page = %d, no team %s", pick.Status, team)
	}
	form.Set("action", "authorize")
	form.Set("grant_team", team)
	res := Do(t, c, "POST", endpoint, form)
	if res.Status != http.StatusFound {
		t.Fatalf("team consent = %d: %s", res.Status, res.Body)
	}
	return pick.Body, res.Header.Get("Location")
}

// AuthorizeTeam authorizes team for the signed-in browser at appURL through
// the sandbox's consent as user; query is /teams/authorize's (e.g.
// "?team=acme"). It returns the product's answer to the callback.
func AuthorizeTeam(t testing.TB, c *http.Client, appURL, query, user, team string) Response {
	t.Helper()
	res := Do(t, c, "GET", appURL+"/teams/authorize"+query, nil)
	if res.Status != http.StatusFound {
		t.Fatalf("/teams/authorize%s = %d, want 302", query, res.Status)
	}
	consent, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	_, callback := TeamConsent(t, c, consent, user, team)
	return Do(t, c, "GET", callback, nil)
}
