package handlers_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"chefdeploy/handlers/webtest"
)

// apiUsage calls POST /api/usage as the rest of the builder would.
func (b *bundle) apiUsage(t *testing.T, token, body string) webtest.Response {
	t.Helper()
	req, err := http.NewRequest("POST", b.app.URL+"/api/usage", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
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

func TestAPITokensAndUsage(t *testing.T) {
	t.Parallel()
	b, c, id, _ := connectedApp(t, "grace", "hopper-labs")

	created := webtest.Do(t, c, "POST", b.app.URL+"/settings/tokens", url.Values{"name": {"Builder"}})
	m := regexp.MustCompile(`data-testid="new-token">(cdp_[A-Za-z0-9_-]+)<`).FindStringSubmatch(created.Body)
	if created.Status != http.StatusOK || m == nil {
		t.Fatalf("token creation = %d:\n%s", created.Status, created.Body)
	}
	token := m[1]
	if again := webtest.Do(t, c, "GET", b.app.URL+"/settings", nil); strings.Contains(again.Body, token) {
		t.Fatal("the token is shown again after creation")
	}
	// The token must be in no column of its row: neither the text columns nor
	// the raw bytes of token_hash (t::text shows bytea as hex, so both are checked).
	var stored struct {
		Rows  int `db:"rows"`
		Clear int `db:"clear"`
	}
	if err := b.db.Get(&stored, `
		SELECT count(*) AS rows,
		       count(*) FILTER (WHERE strpos(t::text, $1) > 0 OR position(convert_to($1, 'UTF8') IN t.token_hash) > 0) AS clear
		  FROM api_tokens t`, token); err != nil {
		t.Fatal(err)
	}
	if stored.Rows != 1 || stored.Clear != 0 {
		t.Fatalf("%d token rows, %d with the token in clear; want 1 and 0", stored.Rows, stored.Clear)
	}

	body := `{"appId":"` + id + `","centitokens":1234}`
	cases := []struct {
		name, token, body string
		status            int
	}{
		{"missing token", "", body, http.StatusUnauthorized},
		{"wrong token", "cdp_nottherighttoken", body, http.StatusUnauthorized},
		{"malformed body", token, `{"appId":`, http.StatusBadRequest},
		{"unknown field", token, `{"appId":"` + id + `","centitokens":1,"admin":true}`, http.StatusBadRequest},
		{"negative", token, `{"appId":"` + id + `","centitokens":-5}`, http.StatusBadRequest},
		{"foreign app", token, `{"appId":"00000000-0000-4000-8000-000000000000","centitokens":5}`, http.StatusNotFound},
		{"ok", token, body, http.StatusOK},
	}
	for _, tc := range cases {
		res := b.apiUsage(t, tc.token, tc.body)
		if res.Status != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.name, res.Status, tc.status, res.Body)
		}
	}
	if n := b.sandbox.Calls("record_tokens", "hopper-labs"); n != 1 {
		t.Fatalf("record_tokens called %d times, want 1 (only the valid request)", n)
	}
	meter := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/usage", nil, "HX-Request", "true")
	if !strings.Contains(meter.Body, `data-testid="usage-meter"`) || !strings.Contains(meter.Body, "12 / 100,000 tokens") {
		t.Fatalf("usage meter does not show the recorded tokens:\n%s", meter.Body)
	}
	if !strings.Contains(meter.Body, `hx-trigger="every 30s"`) {
		t.Error("the meter does not refresh itself")
	}

	tokenID := regexp.MustCompile(`data-token-id="([^"]+)"`).FindStringSubmatch(webtest.Do(t, c, "GET", b.app.URL+"/settings", nil).Body)[1]
	ada := webtest.Browser(t)
	b.login(t, ada, "ada")
	if res := webtest.Do(t, ada, "POST", b.app.URL+"/settings/tokens/"+tokenID+"/revoke", url.Values{}); res.Status != http.StatusNotFound {
		t.Fatalf("another user revoked the token: %d", res.Status)
	}
	if res := b.apiUsage(t, token, body); res.Status != http.StatusOK {
		t.Fatal("the token stopped working after a foreign revoke attempt")
	}
	if res := webtest.Do(t, c, "POST", b.app.URL+"/settings/tokens/"+tokenID+"/revoke", url.Values{}); res.Status != http.StatusOK {
		t.Fatalf("revoke = %d", res.Status)
	}
	if res := b.apiUsage(t, token, body); res.Status != http.StatusUnauthorized {
		t.Fatalf("revoked token = %d, want 401", res.Status)
	}
}

func TestUsageMeterDisabledBanner(t *testing.T) {
	t.Parallel()
	b, c, id, _ := connectedApp(t, "ada", "disabled")
	meter := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+id+"/usage", nil, "HX-Request", "true")
	if !strings.Contains(meter.Body, `data-testid="usage-disabled" data-plan="free"`) {
		t.Fatalf("disabled free team without its banner:\n%s", meter.Body)
	}
	acme, ac, aid, _ := connectedApp(t, "ada", "acme")
	if meter := webtest.Do(t, ac, "GET", acme.app.URL+"/apps/"+aid+"/usage", nil, "HX-Request", "true"); strings.Contains(meter.Body, "usage-disabled") {
		t.Fatal("an enabled team shows the disabled banner")
	}
}
