package sandbox

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The sandbox as an OpenID Connect provider (CONTRACT §3.1), at
// {BaseURL}/oidc. It registers the same clients, with the same redirect
// URIs, as the OAuth server at /oauth, but its codes and tokens are its own.
const (
	// oidcAccessLifetime is how long an access token (and the ID token
	// issued with it) is valid.
	oidcAccessLifetime = time.Hour
	// oidcRefreshLifetime is how long a refresh token can be used.
	oidcRefreshLifetime = 30 * 24 * time.Hour
	// maxNonce bounds the nonce, which is copied into the ID token.
	maxNonce = 512
)

// oidcScopes are the scopes the provider knows; others are ignored, as
// OIDC Core §3.1.2.1 says.
var oidcScopes = []string{"openid", "email", "profile"}

// Issuer is the sandbox's OIDC issuer URL, the value of OIDC_ISSUER_URL
// that points the product at it.
func (s *Sandbox) Issuer() string { return s.base + "/oidc" }

// oidcCode is an authorization code of the OIDC flow.
type oidcCode struct {
	authCode
	nonce  string
	scopes []string
	// refreshHash is the refresh token issued with tokenHash; a replay
	// revokes both.
	refreshHash string
}

type oidcAuthorizeRequest struct {
	authorizeRequest
	Scope string
	Nonce string
}

func readOIDCAuthorizeRequest(v url.Values) oidcAuthorizeRequest {
	return oidcAuthorizeRequest{
		authorizeRequest: readAuthorizeRequest(v),
		Scope:            v.Get("scope"),
		Nonce:            v.Get("nonce"),
	}
}

func (a oidcAuthorizeRequest) fields() []formField {
	return append(a.authorizeRequest.fields(), formField{"scope", a.Scope}, formField{"nonce", a.Nonce})
}

// scopes are the requested scopes the provider knows, in its order.
func (a oidcAuthorizeRequest) scopes() []string {
	asked := strings.Fields(a.Scope)
	var out []string
	for _, sc := range oidcScopes {
		if slices.Contains(asked, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// validateOIDCAuthorize returns what is wrong with the request, or "".
// On top of the OAuth checks (client, exact redirect_uri, code, S256 PKCE)
// an OIDC request must ask for openid and carry a nonce.
func (s *Sandbox) validateOIDCAuthorize(a oidcAuthorizeRequest) string {
	if problem := s.validateAuthorize(a.authorizeRequest); problem != "" {
		return problem
	}
	if !slices.Contains(strings.Fields(a.Scope), "openid") {
		return `scope must contain "openid".`
	}
	if a.Nonce == "" {
		return "The request has no nonce; the sandbox requires one to protect the ID token from replay."
	}
	if len(a.Nonce) > maxNonce {
		return "nonce is too long."
	}
	return ""
}

const oidcPurpose = "wants to sign you in with your name, email address and groups."

// oidcAuthorizePage shows the sign-in page: pick a demo user or deny.
// A bad request gets a 400 page and never a redirect, since the
// redirect_uri itself may be the bad part.
func (s *Sandbox) oidcAuthorizePage(w http.ResponseWriter, r *http.Request) {
	a := readOIDCAuthorizeRequest(r.URL.Query())
	if problem := s.validateOIDCAuthorize(a); problem != "" {
		s.renderPage(w, http.StatusBadRequest, errorPage("Invalid sign-in request", problem))
		return
	}
	s.renderPage(w, http.StatusOK, authorizePage(newAuthorizeView(a.ClientID, a.fields(), oidcPurpose)))
}

// oidcAuthorizeDecision handles the sign-in form: a user button or Deny.
func (s *Sandbox) oidcAuthorizeDecision(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.renderPage(w, http.StatusBadRequest, errorPage("Invalid sign-in request", "The form could not be read."))
		return
	}
	a := readOIDCAuthorizeRequest(r.PostForm)
	if problem := s.validateOIDCAuthorize(a); problem != "" {
		s.renderPage(w, http.StatusBadRequest, errorPage("Invalid sign-in request", problem))
		return
	}
	if r.PostForm.Get("action") == "deny" {
		http.Redirect(w, r, callbackURL(a.RedirectURI, url.Values{
			"error":             {"access_denied"},
			"error_description": {"The user declined to sign in."},
		}, a.State), http.StatusFound)
		return
	}
	u, ok := usersByKey[r.PostForm.Get("user")]
	if !ok {
		s.renderPage(w, http.StatusBadRequest, errorPage("Invalid sign-in request", "Pick one of the listed users."))
		return
	}
	code := newSecret("sbxoc_")
	now := time.Now()
	s.mu.Lock()
	for k, c := range s.oidcCodes {
		if now.Sub(c.issued) > codeMemory {
			delete(s.oidcCodes, k)
		}
	}
	s.oidcCodes[hashSecret(code)] = &oidcCode{
		authCode: authCode{
			clientID:    a.ClientID,
			redirectURI: a.RedirectURI,
			challenge:   a.CodeChallenge,
			userKey:     u.Key,
			issued:      now,
		},
		nonce:  a.Nonce,
		scopes: a.scopes(),
	}
	s.mu.Unlock()
	http.Redirect(w, r, callbackURL(a.RedirectURI, url.Values{"code": {code}}, a.State), http.StatusFound)
}

// oidcTokenResponse is the token endpoint's answer (OIDC Core §3.1.3.3).
type oidcTokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

// oidcToken exchanges a code, or a refresh token, for tokens.
func (s *Sandbox) oidcToken(w http.ResponseWriter, r *http.Request) {
	resp, err := s.oidcExchange(w, r)
	if err != nil {
		var oe *oauthError
		if !errors.As(err, &oe) {
			s.log.Error("sandbox: oidc token", "err", err)
			oe = &oauthError{status: http.StatusInternalServerError, Code: "server_error", Description: "Something went wrong on the sandbox."}
		}
		writeJSON(w, oe.status, oe)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

func (s *Sandbox) oidcExchange(w http.ResponseWriter, r *http.Request) (*oidcTokenResponse, error) {
	f, clientID, err := s.tokenForm(w, r)
	if err != nil {
		return nil, err
	}
	// Sign with a key made before taking s.mu: making one takes a while.
	key, err := s.oidcSigningKey()
	if err != nil {
		return nil, err
	}
	switch f.Get("grant_type") {
	case "authorization_code":
		return s.oidcCodeGrant(key, clientID, f)
	case "refresh_token":
		return s.oidcRefreshGrant(key, clientID, f)
	default:
		return nil, &oauthError{status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: `grant_type must be "authorization_code" or "refresh_token".`}
	}
}

func (s *Sandbox) oidcCodeGrant(key *signingKey, clientID string, f url.Values) (*oidcTokenResponse, error) {
	code := f.Get("code")
	if code == "" {
		return nil, &oauthError{status: http.StatusBadRequest, Code: "invalid_request", Description: "code is required."}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.countLocked("oidc_token", "")
	c := s.oidcCodes[hashSecret(code)]
	if c == nil {
		return nil, invalidGrant("The code is unknown.")
	}
	if c.used {
		if c.tokenHash != "" || c.refreshHash != "" {
			delete(s.st.OIDCTokens, c.tokenHash)
			delete(s.st.OIDCRefreshTokens, c.refreshHash)
			c.tokenHash, c.refreshHash = "", ""
			if err := s.saveLocked(); err != nil {
				return nil, err
			}
		}
		return nil, invalidGrant("The code was already used; the tokens issued with it are revoked.")
	}
	// Any attempt spends the code, so a stolen code cannot be tried twice.
	c.used = true
	if err := c.check(clientID, f); err != nil {
		return nil, err
	}
	grant := oidcGrant{User: c.userKey, ClientID: clientID, Scopes: c.scopes}
	resp, access, refresh, err := s.issueOIDCLocked(key, grant, c.nonce)
	if err != nil {
		return nil, err
	}
	c.tokenHash, c.refreshHash = hashSecret(access), hashSecret(refresh)
	return resp, nil
}

// oidcRefreshGrant trades a refresh token for new tokens. The refresh token
// is rotated: the old one stops working.
func (s *Sandbox) oidcRefreshGrant(key *signingKey, clientID string, f url.Values) (*oidcTokenResponse, error) {
	refresh := f.Get("refresh_token")
	if refresh == "" {
		return nil, &oauthError{status: http.StatusBadRequest, Code: "invalid_request", Description: "refresh_token is required."}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.countLocked("oidc_token", "")
	h := hashSecret(refresh)
	grant, ok := s.st.OIDCRefreshTokens[h]
	if !ok || time.Now().UnixMilli() > grant.Expires || grant.ClientID != clientID {
		return nil, invalidGrant("The refresh token is unknown, expired or issued to another client.")
	}
	delete(s.st.OIDCRefreshTokens, h)
	resp, _, _, err := s.issueOIDCLocked(key, grant, "")
	return resp, err
}

// issueOIDCLocked mints an access token, a refresh token and an ID token
// for grant, and saves the first two (as hashes).
func (s *Sandbox) issueOIDCLocked(key *signingKey, grant oidcGrant, nonce string) (resp *oidcTokenResponse, access, refresh string, err error) {
	u, ok := usersByKey[grant.User]
	if !ok {
		return nil, "", "", invalidGrant("The user no longer exists.")
	}
	now := time.Now()
	access, refresh = newSecret("sbxo_"), newSecret("sbxr_")
	idToken, err := key.sign(idTokenClaims{
		Issuer:     s.Issuer(),
		Audience:   grant.ClientID,
		Expiry:     now.Add(oidcAccessLifetime).Unix(),
		IssuedAt:   now.Unix(),
		Nonce:      nonce,
		AccessHash: accessTokenHash(access),
		userClaims: newUserClaims(u, grant.Scopes),
	})
	if err != nil {
		return nil, "", "", err
	}
	s.pruneOIDCTokensLocked(now)
	accessGrant, refreshGrant := grant, grant
	accessGrant.Expires = now.Add(oidcAccessLifetime).UnixMilli()
	refreshGrant.Expires = now.Add(oidcRefreshLifetime).UnixMilli()
	s.st.OIDCTokens[hashSecret(access)] = accessGrant
	s.st.OIDCRefreshTokens[hashSecret(refresh)] = refreshGrant
	if err := s.saveLocked(); err != nil {
		delete(s.st.OIDCTokens, hashSecret(access))
		delete(s.st.OIDCRefreshTokens, hashSecret(refresh))
		return nil, "", "", err
	}
	return &oidcTokenResponse{
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresIn:    int64(oidcAccessLifetime / time.Second),
		IDToken:      idToken,
		RefreshToken: refresh,
		Scope:        strings.Join(grant.Scopes, " "),
	}, access, refresh, nil
}

// pruneOIDCTokensLocked forgets expired tokens so the state stays small.
func (s *Sandbox) pruneOIDCTokensLocked(now time.Time) {
	ms := now.UnixMilli()
	for _, m := range []map[string]oidcGrant{s.st.OIDCTokens, s.st.OIDCRefreshTokens} {
		for k, g := range m {
			if ms > g.Expires {
				delete(m, k)
			}
		}
	}
}

// oidcAccessLocked resolves a live OIDC access token, by hash, to its grant.
func (s *Sandbox) oidcAccessLocked(tokenHash string) (oidcGrant, bool) {
	g, ok := s.st.OIDCTokens[tokenHash]
	if !ok || time.Now().UnixMilli() > g.Expires {
		return oidcGrant{}, false
	}
	return g, true
}

// userClaims are the claims about the person, in the ID token and from
// userinfo. email needs the email scope and name the profile scope; groups
// are always given (when there are any), like a provider configured with
// a groups claim.
type userClaims struct {
	Subject       string   `json:"sub"`
	Email         string   `json:"email,omitempty"`
	EmailVerified *bool    `json:"email_verified,omitempty"`
	Name          string   `json:"name,omitempty"`
	Groups        []string `json:"groups,omitempty"`
}

func newUserClaims(u User, scopes []string) userClaims {
	c := userClaims{Subject: u.Subject(), Groups: u.Groups}
	if slices.Contains(scopes, "email") {
		verified := true
		c.Email, c.EmailVerified = u.Email, &verified
	}
	if slices.Contains(scopes, "profile") {
		c.Name = u.Name
	}
	return c
}

// idTokenClaims are the ID token's claims (OIDC Core §2).
type idTokenClaims struct {
	Issuer     string `json:"iss"`
	Audience   string `json:"aud"`
	Expiry     int64  `json:"exp"`
	IssuedAt   int64  `json:"iat"`
	Nonce      string `json:"nonce,omitempty"`
	AccessHash string `json:"at_hash,omitempty"`
	userClaims
}

// oidcUserinfo answers the claims of the access token's user (OIDC Core
// §5.3). The token comes in the Authorization header only.
func (s *Sandbox) oidcUserinfo(w http.ResponseWriter, r *http.Request) {
	token, ok := credential(r, "Bearer")
	var grant oidcGrant
	if ok {
		s.mu.Lock()
		grant, ok = s.oidcAccessLocked(hashSecret(token))
		s.mu.Unlock()
	}
	u, known := usersByKey[grant.User]
	if !ok || !known {
		// RFC 6750 §3: the error goes in WWW-Authenticate.
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The access token is missing, unknown or expired."`)
		writeJSON(w, http.StatusUnauthorized, &oauthError{Code: "invalid_token", Description: "The access token is missing, unknown or expired."})
		return
	}
	writeJSON(w, http.StatusOK, newUserClaims(u, grant.Scopes))
}

// oidcDiscovery is the provider's metadata (OpenID Connect Discovery §3).
type oidcDiscovery struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
}

func (s *Sandbox) oidcDiscovery(w http.ResponseWriter, r *http.Request) {
	iss := s.Issuer()
	writeJSON(w, http.StatusOK, oidcDiscovery{
		Issuer:                            iss,
		AuthorizationEndpoint:             iss + "/authorize",
		TokenEndpoint:                     iss + "/token",
		UserinfoEndpoint:                  iss + "/userinfo",
		JWKSURI:                           iss + "/jwks",
		ResponseTypesSupported:            []string{"code"},
		GrantTypesSupported:               []string{"authorization_code", "refresh_token"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{string(jose.RS256)},
		ScopesSupported:                   oidcScopes,
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		ClaimsSupported:                   []string{"iss", "sub", "aud", "exp", "iat", "nonce", "at_hash", "email", "email_verified", "name", "groups"},
	})
}

// oidcJWKS publishes the public signing key.
func (s *Sandbox) oidcJWKS(w http.ResponseWriter, r *http.Request) {
	key, err := s.oidcSigningKey()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.public}})
}
