package handlers_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"chefdeploy/handlers/webtest"
	"chefdeploy/models"
)

// fakeProvider is a small OIDC provider whose token endpoint mints the ID
// token mint makes, so a test can hand the product forged ones. Its
// authorize endpoint signs "alice" in at once.
type fakeProvider struct {
	srv       *httptest.Server
	key, evil *rsa.PrivateKey
	mint      func(p *fakeProvider, claims map[string]any) *rsa.PrivateKey

	mu     sync.Mutex
	nonces map[string]string // code -> nonce
}

func newFakeProvider(t *testing.T, mint func(p *fakeProvider, claims map[string]any) *rsa.PrivateKey) *fakeProvider {
	t.Helper()
	p := &fakeProvider{mint: mint, nonces: map[string]string{}}
	var err error
	if p.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if p.evil, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer": p.srv.URL, "authorization_endpoint": p.srv.URL + "/authorize",
			"token_endpoint": p.srv.URL + "/token", "jwks_uri": p.srv.URL + "/jwks",
			"userinfo_endpoint":                     p.srv.URL + "/userinfo",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := "code-" + q.Get("state")[:8]
		p.mu.Lock()
		p.nonces[code] = q.Get("nonce")
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		p.mu.Lock()
		nonce := p.nonces[r.PostForm.Get("code")]
		p.mu.Unlock()
		now := time.Now()
		claims := map[string]any{
			"iss": p.srv.URL, "sub": "alice", "aud": "test-client", "nonce": nonce,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"email": "alice@example.com", "email_verified": true, "name": "Alice",
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: p.mint(p, claims), KeyID: "k1"}}, nil)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		raw, _ := json.Marshal(claims)
		sig, err := signer.Sign(raw)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		idToken, _ := sig.CompactSerialize()
		writeJSON(w, map[string]any{"access_token": "fake-access-token", "token_type": "Bearer", "expires_in": 3600, "id_token": idToken})
	})
	return p
}

// An ID token that fails any check of CONTRACT §3.1 answers 400 and
// stores nothing; the same provider minting a good one signs in.
func TestForgedIDTokenRefused(t *testing.T) {
	t.Parallel()
	cases := map[string]func(p *fakeProvider, c map[string]any) *rsa.PrivateKey{
		"wrong signature": func(p *fakeProvider, c map[string]any) *rsa.PrivateKey { return p.evil },
		"wrong issuer": func(p *fakeProvider, c map[string]any) *rsa.PrivateKey {
			c["iss"] = "https://evil.example"
			return p.key
		},
		"wrong audience": func(p *fakeProvider, c map[string]any) *rsa.PrivateKey {
			c["aud"] = "another-client"
			return p.key
		},
		"nonce mismatch": func(p *fakeProvider, c map[string]any) *rsa.PrivateKey {
			c["nonce"] = "not-the-nonce"
			return p.key
		},
		"expired": func(p *fakeProvider, c map[string]any) *rsa.PrivateKey {
			c["iat"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
			return p.key
		},
	}
	for name, mint := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newFakeProvider(t, mint)
			b := setup(t, withEnv("OIDC_ISSUER_URL", p.srv.URL))
			c := webtest.Browser(t)
			res := fakeLogin(t, b, c)
			if res.Status != http.StatusBadRequest || !strings.Contains(res.Body, "could not be verified") {
				t.Fatalf("callback = %d, want the 400 page: %s", res.Status, res.Body)
			}
			var users, sessions int
			if err := b.db.Get(&users, `SELECT count(*) FROM users`); err != nil {
				t.Fatal(err)
			}
			if err := b.db.Get(&sessions, `SELECT count(*) FROM sessions`); err != nil {
				t.Fatal(err)
			}
			if users != 0 || sessions != 0 {
				t.Fatalf("a refused ID token stored %d users, %d sessions", users, sessions)
			}
		})
	}

	t.Run("genuine", func(t *testing.T) {
		t.Parallel()
		p := newFakeProvider(t, func(p *fakeProvider, c map[string]any) *rsa.PrivateKey { return p.key })
		b := setup(t, withEnv("OIDC_ISSUER_URL", p.srv.URL))
		c := webtest.Browser(t)
		if res := fakeLogin(t, b, c); res.Status != http.StatusSeeOther {
			t.Fatalf("callback = %d: %s", res.Status, res.Body)
		}
		var who struct{ Issuer, Subject, Email string }
		if err := b.db.Get(&who, `SELECT oidc_issuer AS issuer, oidc_subject AS subject, email FROM users`); err != nil {
			t.Fatal(err)
		}
		if who.Issuer != p.srv.URL || who.Subject != "alice" || who.Email != "alice@example.com" {
			t.Fatalf("user = %+v", who)
		}
	})
}

// fakeLogin runs the login against a fakeProvider and returns the callback's answer.
func fakeLogin(t *testing.T, b *bundle, c *http.Client) webtest.Response {
	t.Helper()
	start := webtest.Do(t, c, "GET", b.app.URL+"/auth/login", nil)
	if start.Status != http.StatusFound {
		t.Fatalf("/auth/login = %d: %s", start.Status, start.Body)
	}
	authorize := webtest.Do(t, c, "GET", start.Header.Get("Location"), nil)
	if authorize.Status != http.StatusFound {
		t.Fatalf("authorize = %d", authorize.Status)
	}
	return webtest.Do(t, c, "GET", authorize.Header.Get("Location"), nil)
}

// The login asks for openid email profile with a nonce, PKCE and state.
func TestLoginRequestsOpenIDWithNonce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	q := webtest.StartLogin(t, c, b.app.URL)
	if q.Get("scope") != "openid email profile" || q.Get("nonce") == "" || q.Get("client_id") != "test-client" ||
		q.Get("code_challenge_method") != "S256" {
		t.Fatalf("authorize query = %v", q)
	}
	again := webtest.StartLogin(t, c, b.app.URL)
	if again.Get("nonce") == q.Get("nonce") || again.Get("state") == q.Get("state") {
		t.Fatal("two logins share a nonce or state")
	}
}

// A provider that cannot be discovered stops the logins, with a clear 503,
// never the product.
func TestUndiscoverableProviderAnswers503(t *testing.T) {
	t.Parallel()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	b := setup(t, withEnv("OIDC_ISSUER_URL", gone.URL))
	c := webtest.Browser(t)
	if res := webtest.Do(t, c, "GET", b.app.URL+"/healthz", nil); res.Status != http.StatusOK {
		t.Fatalf("/healthz = %d", res.Status)
	}
	res := webtest.Do(t, c, "GET", b.app.URL+"/auth/login", nil)
	if res.Status != http.StatusServiceUnavailable || !strings.Contains(res.Body, "cannot be reached") {
		t.Fatalf("/auth/login = %d: %s", res.Status, res.Body)
	}
}

// SUPPORT_OIDC_GROUP in the groups claim gives the support role (Sam is in
// the sandbox's "support" group); others stay out.
func TestSupportRoleFromOIDCGroup(t *testing.T) {
	t.Parallel()
	b := setup(t, withEnv("SUPPORT_OIDC_GROUP", "support"))
	sam, grace := webtest.Browser(t), webtest.Browser(t)
	b.login(t, sam, "sam")
	b.login(t, grace, "grace")
	if res := webtest.Do(t, sam, "GET", b.app.URL+"/support", nil); res.Status != http.StatusOK {
		t.Fatalf("sam: /support = %d", res.Status)
	}
	if res := webtest.Do(t, grace, "GET", b.app.URL+"/support", nil); res.Status != http.StatusForbidden {
		t.Fatalf("grace: /support = %d, want 403", res.Status)
	}

	// Without the setting, the group gives nothing.
	plain := setup(t)
	c := webtest.Browser(t)
	plain.login(t, c, "sam")
	if res := webtest.Do(t, c, "GET", plain.app.URL+"/support", nil); res.Status != http.StatusForbidden {
		t.Fatalf("sam without SUPPORT_OIDC_GROUP: /support = %d, want 403", res.Status)
	}
}

// A user of the version 1 login (keyed by the Convex profile id) is the
// same user after their first OIDC login with a verified email: their apps
// are still theirs.
func TestVersion1UserMatchedByVerifiedEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	old, err := models.UpsertUser(ctx, b.db, "1001", "Ada", "Ada@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	app, err := models.CreateApp(ctx, b.db, old.ID, "Difference Engine", 0)
	if err != nil {
		t.Fatal(err)
	}
	c := webtest.Browser(t)
	b.login(t, c, "ada")
	if res := webtest.Do(t, c, "GET", b.app.URL+"/apps/"+app.ID, nil); res.Status != http.StatusOK || !strings.Contains(res.Body, "Difference Engine") {
		t.Fatalf("the v1 user's app = %d after the OIDC login", res.Status)
	}
	var users []struct {
		ID       string `db:"id"`
		ConvexID string `db:"convex_id"`
		Subject  string `db:"oidc_subject"`
	}
	if err := b.db.Select(&users, `SELECT id, convex_id, oidc_subject FROM users`); err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0].ID != old.ID || users[0].ConvexID != "1001" || users[0].Subject != "sandbox-user-ada" {
		t.Fatalf("users = %+v, want the v1 row linked", users)
	}

	// Grace signs in fresh: a new user, no v1 row taken.
	g := webtest.Browser(t)
	b.login(t, g, "grace")
	var n int
	if err := b.db.Get(&n, `SELECT count(*) FROM users`); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d users, want 2", n)
	}
}

// The login's access token is kept sealed on the server: never in a
// cookie, a page or the log.
func TestLoginAccessTokenNeverLeavesTheServer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := webtest.Browser(t)
	q := webtest.StartLogin(t, c, b.app.URL)
	callback := webtest.Do(t, c, "GET", webtest.PickUser(t, c, b.authorizeURL(), q, "ada"), nil)
	if callback.Status != http.StatusSeeOther {
		t.Fatalf("callback = %d", callback.Status)
	}
	var row struct {
		Sealed  string `db:"convex_token"`
		Refresh string `db:"refresh_token"`
		IDHash  []byte `db:"id_hash"`
	}
	if err := b.db.Get(&row, `SELECT convex_token, refresh_token, id_hash FROM sessions`); err != nil {
		t.Fatal(err)
	}
	access, err := b.cfg.Credentials.OpenString(row.Sealed, models.SessionTokenPurpose(row.IDHash))
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := b.cfg.Credentials.OpenString(row.Refresh, models.RefreshTokenPurpose(row.IDHash))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(access, "sbxo_") || !strings.HasPrefix(refresh, "sbxr_") {
		t.Fatalf("sealed tokens are not the login's: %.5s… %.5s…", access, refresh)
	}
	// The provision host takes exactly this token (builder mode).
	if _, err := b.sandboxTeamsWith(access); err != nil {
		t.Fatalf("the provision host refuses the login's access token: %v", err)
	}
	seen := callback.Header.Values("Set-Cookie")
	for _, path := range []string{"/", "/settings"} {
		res := webtest.Do(t, c, "GET", b.app.URL+path, nil)
		seen = append(seen, res.Body)
		seen = append(seen, res.Header.Values("Set-Cookie")...)
	}
	appURL, _ := url.Parse(b.app.URL)
	for _, ck := range c.Jar.Cookies(appURL) {
		seen = append(seen, ck.Value)
	}
	seen = append(seen, b.logs.String())
	for _, s := range seen {
		if strings.Contains(s, access) || strings.Contains(s, refresh) {
			t.Fatal("the login's token left the server")
		}
	}
}

// sandboxTeamsWith lists the provision host's teams with token as Bearer.
func (b *bundle) sandboxTeamsWith(token string) (string, error) {
	res, err := webtest.Send(http.DefaultClient, "GET", b.sandboxURL+"/api/dashboard/teams", nil, "Authorization", "Bearer "+token)
	if err != nil {
		return "", err
	}
	if res.Status != http.StatusOK {
		return "", fmt.Errorf("teams = %d", res.Status)
	}
	return res.Body, nil
}

// An email the provider did not verify adopts no version 1 user.
func TestVersion1UserNotMatchedByUnverifiedEmail(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t, func(p *fakeProvider, c map[string]any) *rsa.PrivateKey {
		c["email_verified"] = false
		return p.key
	})
	b := setup(t, withEnv("OIDC_ISSUER_URL", p.srv.URL))
	old, err := models.UpsertUser(t.Context(), b.db, "42", "Alice", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if res := fakeLogin(t, b, webtest.Browser(t)); res.Status != http.StatusSeeOther {
		t.Fatalf("callback = %d: %s", res.Status, res.Body)
	}
	var linked int
	if err := b.db.Get(&linked, `SELECT count(*) FROM users WHERE id = $1 AND oidc_subject IS NOT NULL`, old.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.db.Get(&n, `SELECT count(*) FROM users`); err != nil {
		t.Fatal(err)
	}
	if linked != 0 || n != 2 {
		t.Fatalf("unverified email: v1 row linked=%d, users=%d; want 0 and 2", linked, n)
	}
}
