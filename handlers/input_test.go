package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"chefdeploy/handlers/webtest"
)

// badBytes are path segments and values no id, slug or name can hold:
// invalid UTF-8, NUL and other control characters, percent-encoded as a
// hostile client sends them.
var badBytes = []string{"%ff", "%00", "%c3%28", "a%00b", "%1b%5b31m", "%7f"}

// TestBadBytesInIdsAre404 sends every route that takes an id a segment that
// cannot be one: each is the 404 of a missing app, never a 500, and nothing
// is logged at ERROR.
func TestBadBytesInIdsAre404(t *testing.T) {
	t.Parallel()
	b, ada := signedIn(t, "ada", supportTeam)
	id := b.createApp(t, ada, "Bytes")
	sam := webtest.Browser(t)
	b.login(t, sam, "sam")

	routes := []struct {
		c            *http.Client
		method, path string
	}{
		{ada, "GET", "/apps/{bad}"},
		{ada, "POST", "/apps/{bad}/rename"},
		{ada, "POST", "/apps/{bad}/delete"},
		{ada, "GET", "/apps/{bad}/teams"},
		{ada, "POST", "/apps/{bad}/connect"},
		{ada, "GET", "/apps/{bad}/status"},
		{ada, "POST", "/apps/{bad}/disconnect"},
		{ada, "POST", "/apps/{bad}/deploy-key"},
		{ada, "GET", "/apps/{bad}/deploys"},
		{ada, "POST", "/apps/{bad}/deploys"},
		{ada, "POST", "/apps/{bad}/deploys/" + id + "/rollback"},
		{ada, "POST", "/apps/" + id + "/deploys/{bad}/rollback"},
		{ada, "GET", "/apps/{bad}/usage"},
		{ada, "GET", "/apps/{bad}/dashboard"},
		{ada, "POST", "/apps/{bad}/dashboard/credentials"},
		{ada, "POST", "/apps/{bad}/env"},
		{ada, "POST", "/settings/tokens/{bad}/revoke"},
		{sam, "GET", "/support/apps/{bad}"},
		{sam, "POST", "/support/apps/{bad}/fail"},
	}
	for _, rt := range routes {
		for _, bad := range badBytes {
			path := strings.Replace(rt.path, "{bad}", bad, 1)
			for _, hx := range []string{"false", "true"} {
				res := webtest.Do(t, rt.c, rt.method, b.app.URL+path, url.Values{"name": {"x"}, "note": {"x"}, "team": {"acme"}}, "HX-Request", hx)
				if res.Status != http.StatusNotFound {
					t.Errorf("%s %s (HX-Request %s) = %d, want 404", rt.method, path, hx, res.Status)
				}
			}
		}
	}
	if logs := b.logs.String(); strings.Contains(logs, "level=ERROR") {
		t.Fatalf("bad ids were logged as errors:\n%s", errorLines(logs))
	}
}

// TestBadBytesInFieldsAre422 sends the same bytes in every form field and
// query filter: each is refused with a message (422), nothing is stored and
// nothing is logged at ERROR.
func TestBadBytesInFieldsAre422(t *testing.T) {
	t.Parallel()
	b, ada := signedIn(t, "ada", supportTeam)
	id := b.createApp(t, ada, "Bytes")
	sam := webtest.Browser(t)
	b.login(t, sam, "sam")
	b.connect(t, ada, id, "black-hole")

	cases := []struct {
		c      *http.Client
		method string
		path   string
		field  string
	}{
		{ada, "POST", "/apps", "name"},
		{ada, "POST", "/apps/" + id + "/rename", "name"},
		{ada, "POST", "/settings/tokens", "name"},
		{sam, "POST", "/support/apps/" + id + "/fail", "note"},
		{sam, "GET", "/support?q={bad}", ""},
		{sam, "GET", "/support?team={bad}", ""},
		{sam, "GET", "/support?state={bad}", ""},
		{sam, "GET", "/support?after={bad}", ""},
		{sam, "GET", "/support/events?before={bad}", ""},
		{ada, "GET", "/apps/" + id + "/teams?label={bad}", ""},
		{ada, "GET", "/apps/" + id + "/status?poll={bad}", ""},
	}
	for _, tc := range cases {
		for _, bad := range badBytes {
			raw, err := url.QueryUnescape(bad)
			if err != nil {
				t.Fatal(err)
			}
			var form url.Values
			if tc.field != "" {
				form = url.Values{tc.field: {"Nice " + raw + " name"}}
			}
			path := strings.Replace(tc.path, "{bad}", bad, 1)
			res := webtest.Do(t, tc.c, tc.method, b.app.URL+path, form)
			if res.Status != http.StatusUnprocessableEntity {
				t.Errorf("%s %s with %s=%q = %d, want 422", tc.method, path, tc.field, raw, res.Status)
				continue
			}
			if !strings.Contains(res.Body, "cannot be used") {
				t.Errorf("%s %s with %q: the 422 does not say what is wrong:\n%.2000s", tc.method, path, raw, res.Body)
			}
		}
	}
	var stored int
	if err := b.db.Get(&stored, `SELECT (SELECT count(*) FROM apps WHERE name <> 'Bytes') + (SELECT count(*) FROM api_tokens)`); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Errorf("%d apps or tokens were stored from refused forms", stored)
	}
	if logs := b.logs.String(); strings.Contains(logs, "level=ERROR") {
		t.Fatalf("bad fields were logged as errors:\n%s", errorLines(logs))
	}
}

// errorLines are the ERROR lines of a log, for a failure message.
func errorLines(logs string) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	if len(out) > 20 {
		out = append(out[:20], "…")
	}
	return strings.Join(out, "\n")
}

// TestInvisibleCharactersInNamesAre422 sends names with bidi overrides,
// zero-width and other format characters, which would make a name on the
// support console or in the audit trail read as something else: each form
// refuses them with a message and stores nothing.
func TestInvisibleCharactersInNamesAre422(t *testing.T) {
	t.Parallel()
	b, ada := signedIn(t, "ada", supportTeam)
	id := b.createApp(t, ada, "Plain")
	sam := webtest.Browser(t)
	b.login(t, sam, "sam")
	b.connect(t, ada, id, "black-hole")

	spoofs := []string{
		"invoice\u202Egpj.exe", // right-to-left override
		"ad\u200Bmin",          // zero-width space
		"\uFEFFpaypal",         // zero-width no-break space (BOM)
		"a\u2066b\u2069",       // isolates
		"soft\u00ADhyphen",     // soft hyphen
		"line\u2028break",      // line separator
		"tag\U000E0041",        // a tag character
	}
	forms := []struct {
		c           *http.Client
		path, field string
	}{
		{ada, "/apps", "name"},
		{ada, "/apps/" + id + "/rename", "name"},
		{ada, "/settings/tokens", "name"},
		{sam, "/support/apps/" + id + "/fail", "note"},
	}
	for _, f := range forms {
		for _, name := range spoofs {
			res := webtest.Do(t, f.c, "POST", b.app.URL+f.path, url.Values{f.field: {name}})
			if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Body, "cannot be used") {
				t.Errorf("POST %s with %s=%+q = %d, want 422 saying what cannot be used", f.path, f.field, name, res.Status)
			}
		}
	}
	var stored int
	if err := b.db.Get(&stored, `SELECT (SELECT count(*) FROM apps WHERE name <> 'Plain') + (SELECT count(*) FROM api_tokens)
		+ (SELECT count(*) FROM connections WHERE state <> 'connecting')`); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Errorf("%d rows were stored or changed from refused forms", stored)
	}
}
