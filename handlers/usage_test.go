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
	req, _ := http.NewRequest("POST", b.app.URL+"/api/usage", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
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
	var stored int
	b.db.Get(&stored, `SELECT count(*) FROM api_tokens WHERE convert_from(token_hash, 'SQL_ASCII') LIKE '%' || $1 || '%'`, token)
	if stored != 0 {
		t.Fatal("the token is stored in clear")
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
