package sandbox_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"chefdeploy/sandbox"
)

// oidcClient is the product's side of the login: the provider found by
// discovery, and an oauth2 config with the contract's scopes.
type oidcClient struct {
	provider *oidc.Provider
	conf     *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// confCopy is a new config with c's settings, for a test that changes one:
// copying the struct would also copy (and race on) its internal cache while
// parallel tests use c.conf.
func (c *oidcClient) confCopy() *oauth2.Config {
	return &oauth2.Config{
		ClientID: c.conf.ClientID, ClientSecret: c.conf.ClientSecret, Endpoint: c.conf.Endpoint,
		RedirectURL: c.conf.RedirectURL, Scopes: c.conf.Scopes,
	}
}

func (f *fixture) oidcClient(t *testing.T, secret string) oidcClient {
	t.Helper()
	provider, err := oidc.NewProvider(t.Context(), f.sb.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	endpoint := provider.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInParams
	return oidcClient{
		provider: provider,
		conf: &oauth2.Config{
			ClientID: testClientID, ClientSecret: secret, RedirectURL: testRedirectURI,
			Endpoint: endpoint, Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
		},
		verifier: provider.Verifier(&oidc.Config{ClientID: testClientID}),
	}
}

// oidcCode runs the browser half of the login for user and returns the code.
func (f *fixture) oidcCode(t *testing.T, c oidcClient, user, nonce, verifier string) string {
	t.Helper()
	authURL := c.conf.AuthCodeURL("st-oidc", oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	loc := f.submit(t, f.openConsent(t, authURL), url.Values{"user": {user}})
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirectURI {
		t.Fatalf("redirected to %s", loc)
	}
	if got := loc.Query().Get("state"); got != "st-oidc" {
		t.Fatalf("state %q, want st-oidc", got)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", loc)
	}
	return code
}

// oidcLogin signs user in and returns the tokens.
func (f *fixture) oidcLogin(t *testing.T, c oidcClient, user, nonce string) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	tok, err := c.conf.Exchange(t.Context(), f.oidcCode(t, c, user, nonce, verifier), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func rawIDToken(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		t.Fatalf("no id_token in the token answer")
	}
	return raw
}

type personClaims struct {
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name"`
	Groups        []string `json:"groups"`
}

func TestOIDCLogin(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	c := f.oidcClient(t, testClientSecret)
	for _, u := range sandbox.DemoUsers() {
		t.Run(u.Key, func(t *testing.T) {
			t.Parallel()
			nonce := "nonce-" + u.Key
			tok := f.oidcLogin(t, c, u.Key, nonce)
			if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Expiry.Before(time.Now().Add(30*time.Minute)) {
				t.Errorf("token type %q, refresh token %t, expiry %v", tok.TokenType, tok.RefreshToken != "", tok.Expiry)
			}

			idToken, err := c.verifier.Verify(t.Context(), rawIDToken(t, tok))
			if err != nil {
				t.Fatal(err)
			}
			if idToken.Nonce != nonce || idToken.Subject != u.Subject() || idToken.Issuer != f.sb.Issuer() {
				t.Errorf("nonce %q, sub %q, iss %q", idToken.Nonce, idToken.Subject, idToken.Issuer)
			}
			if err := idToken.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}
			var claims personClaims
			if err := idToken.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			want := personClaims{Email: u.Email, EmailVerified: true, Name: u.Name, Groups: u.Groups}
			if claims.Email != want.Email || !claims.EmailVerified || claims.Name != want.Name || !slices.Equal(claims.Groups, want.Groups) {
				t.Errorf("ID token claims %+v, want %+v", claims, want)
			}

			info, err := c.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatal(err)
			}
			var infoClaims personClaims
			if err := info.Claims(&infoClaims); err != nil {
				t.Fatal(err)
			}
			if info.Subject != u.Subject() || info.Email != u.Email || infoClaims.Name != u.Name || !slices.Equal(infoClaims.Groups, u.Groups) {
				t.Errorf("userinfo sub %q, claims %+v", info.Subject, infoClaims)
			}

			// The access token is also the provision host's token (CONTRACT §2.2).
			var p struct{ Email string }
			f.api(t, "GET", "/api/dashboard/profile", tok.AccessToken, nil).decode(t, &p)
			if p.Email != u.Email {
				t.Errorf("profile email %q, want %q", p.Email, u.Email)
			}
		})
	}
}

func TestOIDCGroupsClaim(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	c := f.oidcClient(t, testClientSecret)
	for user, want := range map[string][]string{sandbox.UserSam: {sandbox.SupportGroup}, sandbox.UserAda: nil} {
		idToken, err := c.verifier.Verify(t.Context(), rawIDToken(t, f.oidcLogin(t, c, user, "n")))
		if err != nil {
			t.Fatal(err)
		}
		var claims personClaims
		if err := idToken.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(claims.Groups, want) {
			t.Errorf("%s: groups %q, want %q", user, claims.Groups, want)
		}
	}
}

func TestOIDCDiscovery(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	var meta struct {
		Issuer        string   `json:"issuer"`
		JWKSURI       string   `json:"jwks_uri"`
		ResponseTypes []string `json:"response_types_supported"`
		SubjectTypes  []string `json:"subject_types_supported"`
		SigningAlgs   []string `json:"id_token_signing_alg_values_supported"`
		AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
		PKCEMethods   []string `json:"code_challenge_methods_supported"`
		Claims        []string `json:"claims_supported"`
	}
	if err := f.oidcClient(t, testClientSecret).provider.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	if meta.Issuer != f.base+"/oidc" || meta.JWKSURI != f.base+"/oidc/jwks" {
		t.Errorf("issuer %q, jwks_uri %q", meta.Issuer, meta.JWKSURI)
	}
	for name, got := range map[string][]string{"code": meta.ResponseTypes, "public": meta.SubjectTypes, "RS256": meta.SigningAlgs, "client_secret_post": meta.AuthMethods, "S256": meta.PKCEMethods} {
		if !slices.Equal(got, []string{name}) {
			t.Errorf("supported %q, want only %q", got, name)
		}
	}
	for _, claim := range []string{"sub", "email", "email_verified", "name", "groups", "nonce"} {
		if !slices.Contains(meta.Claims, claim) {
			t.Errorf("claims_supported lacks %s", claim)
		}
	}
}

func TestOIDCAuthorizeRejectsBadRequests(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	valid := url.Values{
		"client_id":             {testClientID},
		"redirect_uri":          {testRedirectURI},
		"response_type":         {"code"},
		"scope":                 {"openid email profile"},
		"state":                 {"s"},
		"nonce":                 {"n"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"},
	}
	tests := []struct {
		name, param, value, want string
	}{
		{"wrong redirect_uri", "redirect_uri", "http://evil.example.test/auth/callback", "redirect_uri is not the one registered"},
		{"redirect_uri with another path", "redirect_uri", testRedirectURI + "/x", "redirect_uri is not the one registered"},
		{"unknown client", "client_id", "someone-else", "not registered"},
		{"missing nonce", "nonce", "", "no nonce"},
		{"no openid scope", "scope", "email profile", `"openid"`},
		{"implicit flow", "response_type", "id_token", `response_type must be "code"`},
		{"missing PKCE challenge", "code_challenge", "", "code_challenge is missing"},
		{"missing PKCE method", "code_challenge_method", "", "PKCE is required"},
		{"plain PKCE", "code_challenge_method", "plain", `"plain" is not accepted`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := url.Values{}
			for k, v := range valid {
				q[k] = v
			}
			q.Set(tt.param, tt.value)
			form := q.Encode() + "&user=ada"
			for _, rp := range []reply{
				f.send(t, "GET", "/oidc/authorize?"+q.Encode(), nil, nil),
				f.send(t, "POST", "/oidc/authorize", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, strings.NewReader(form)),
			} {
				if rp.status != http.StatusBadRequest || rp.header.Get("Location") != "" {
					t.Fatalf("status %d, Location %q, want 400 and no redirect", rp.status, rp.header.Get("Location"))
				}
				if page := html.UnescapeString(string(rp.body)); !strings.HasPrefix(rp.header.Get("Content-Type"), "text/html") || !strings.Contains(page, tt.want) {
					t.Errorf("page %s lacks %q", page, tt.want)
				}
			}
		})
	}
	t.Run("cross-origin form post", func(t *testing.T) {
		t.Parallel()
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {"http://evil.example.test"}}
		rp := f.send(t, "POST", "/oidc/authorize", h, strings.NewReader(valid.Encode()+"&user=ada"))
		if rp.status != http.StatusForbidden || rp.header.Get("Location") != "" {
			t.Fatalf("status %d, Location %q, want 403", rp.status, rp.header.Get("Location"))
		}
	})
}

// retrieveErrorCode is the OAuth error code of a failed exchange.
func retrieveErrorCode(t *testing.T, err error) string {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v, want an OAuth error answer", err)
	}
	return re.ErrorCode
}

func TestOIDCTokenRejectsBadExchanges(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	c := f.oidcClient(t, testClientSecret)

	t.Run("wrong verifier", func(t *testing.T) {
		t.Parallel()
		code := f.oidcCode(t, c, sandbox.UserAda, "n", oauth2.GenerateVerifier())
		_, err := c.conf.Exchange(t.Context(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if got := retrieveErrorCode(t, err); got != "invalid_grant" {
			t.Errorf("error %q, want invalid_grant", got)
		}
	})
	t.Run("no verifier", func(t *testing.T) {
		t.Parallel()
		code := f.oidcCode(t, c, sandbox.UserAda, "n", oauth2.GenerateVerifier())
		_, err := c.conf.Exchange(t.Context(), code)
		if got := retrieveErrorCode(t, err); got != "invalid_grant" {
			t.Errorf("error %q, want invalid_grant", got)
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		t.Parallel()
		verifier := oauth2.GenerateVerifier()
		code := f.oidcCode(t, c, sandbox.UserAda, "n", verifier)
		wrong := c.confCopy()
		wrong.ClientSecret = "not-the-secret"
		_, err := wrong.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if got := retrieveErrorCode(t, err); got != "invalid_client" {
			t.Errorf("error %q, want invalid_client", got)
		}
	})
	t.Run("wrong redirect_uri", func(t *testing.T) {
		t.Parallel()
		verifier := oauth2.GenerateVerifier()
		code := f.oidcCode(t, c, sandbox.UserAda, "n", verifier)
		wrong := c.confCopy()
		wrong.RedirectURL = testRedirectURI + "/x"
		_, err := wrong.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if got := retrieveErrorCode(t, err); got != "invalid_grant" {
			t.Errorf("error %q, want invalid_grant", got)
		}
	})
	t.Run("replayed code revokes its tokens", func(t *testing.T) {
		t.Parallel()
		verifier := oauth2.GenerateVerifier()
		code := f.oidcCode(t, c, sandbox.UserAda, "n", verifier)
		tok, err := c.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if got := retrieveErrorCode(t, err); got != "invalid_grant" {
			t.Errorf("replay: error %q, want invalid_grant", got)
		}
		if _, err := c.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("userinfo accepted the access token of a replayed code")
		}
		if rp := f.api(t, "GET", "/api/dashboard/profile", tok.AccessToken, nil); rp.status != http.StatusUnauthorized {
			t.Errorf("profile with a revoked token: %d", rp.status)
		}
		refresh := c.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken})
		if _, err := refresh.Token(); retrieveErrorCode(t, err) != "invalid_grant" {
			t.Errorf("refresh with a revoked token: %v", err)
		}
	})
	t.Run("code of the OAuth flow", func(t *testing.T) {
		t.Parallel()
		verifier := oauth2.GenerateVerifier()
		code := f.authCode(t, sandbox.UserAda, verifier)
		_, err := c.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if got := retrieveErrorCode(t, err); got != "invalid_grant" {
			t.Errorf("error %q, want invalid_grant", got)
		}
	})
}

func TestOIDCRefreshRotates(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	c := f.oidcClient(t, testClientSecret)
	first := f.oidcLogin(t, c, sandbox.UserGrace, "n")
	next, err := c.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if next.AccessToken == first.AccessToken || next.RefreshToken == first.RefreshToken {
		t.Error("refresh gave the same tokens again")
	}
	info, err := c.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(next))
	if err != nil {
		t.Fatal(err)
	}
	if info.Email != "grace@example.com" {
		t.Errorf("userinfo email %q", info.Email)
	}
	_, err = c.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
	if got := retrieveErrorCode(t, err); got != "invalid_grant" {
		t.Errorf("used refresh token: error %q, want invalid_grant", got)
	}
}

func TestOIDCUserinfoNeedsToken(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	for _, auth := range []string{"", "Bearer sbxo_unknown", "Bearer " + f.login(t, sandbox.UserAda)} {
		rp := f.send(t, "GET", "/oidc/userinfo", apiHeader(t, auth, nil), nil)
		if rp.status != http.StatusUnauthorized || !strings.Contains(rp.header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%.12q: status %d, WWW-Authenticate %q", auth, rp.status, rp.header.Get("WWW-Authenticate"))
		}
	}
}

// An ID token signed with any key but the sandbox's must not verify, even
// with the sandbox's kid and claims: the verifier really checks the JWKS.
func TestOIDCForeignSignatureFails(t *testing.T) {
	t.Parallel()
	f := setup(t, sandbox.Options{})
	c := f.oidcClient(t, testClientSecret)
	genuine := rawIDToken(t, f.oidcLogin(t, c, sandbox.UserAda, "n"))
	parsed, err := jose.ParseSigned(genuine, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: other, KeyID: parsed.Signatures[0].Header.KeyID}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := signer.Sign(parsed.UnsafePayloadWithoutVerification())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := forged.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.verifier.Verify(t.Context(), genuine); err != nil {
		t.Fatalf("the genuine token fails: %v", err)
	}
	if _, err := c.verifier.Verify(t.Context(), raw); err == nil {
		t.Fatal("a token signed by another key verified")
	}
}

func TestOIDCKeyAndTokensSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := setup(t, sandbox.Options{StateDir: dir})
	tok := f.oidcLogin(t, f.oidcClient(t, testClientSecret), sandbox.UserSam, "n")
	jwks := f.send(t, "GET", "/oidc/jwks", nil, nil)

	again := setup(t, sandbox.Options{StateDir: dir})
	if rp := again.send(t, "GET", "/oidc/jwks", nil, nil); string(rp.body) != string(jwks.body) {
		t.Errorf("JWKS changed across a restart:\n%s\n%s", jwks.body, rp.body)
	}
	var info struct{ Sub string }
	again.send(t, "GET", "/oidc/userinfo", apiHeader(t, "Bearer "+tok.AccessToken, nil), nil).decode(t, &info)
	if info.Sub != "sandbox-user-sam" {
		t.Errorf("userinfo after restart: sub %q", info.Sub)
	}
}
