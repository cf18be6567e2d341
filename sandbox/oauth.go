package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// codeLifetime is how long an authorization code can be exchanged.
	codeLifetime = 60 * time.Second
	// codeMemory is how long a spent code is remembered, so a replay is
	// recognised (and revokes its token) rather than called unknown.
	codeMemory = 10 * time.Minute
	// maxFormBody bounds the consent form and the token request.
	maxFormBody = 64 << 10
)

// authCode is an authorization code waiting for its exchange.
type authCode struct {
	clientID    string
	redirectURI string
	challenge   string
	userKey     string
	// teamSlug is set by the team consent page: the code then exchanges
	// into a team token for that one team.
	teamSlug string
	issued   time.Time
	used     bool
	// tokenHash is the token the code was exchanged for; a replay revokes it
	// (RFC 6749 §4.1.2).
	tokenHash string
}

// authorizeRequest is the query of GET /oauth/authorize, carried unchanged
// through the consent form.
type authorizeRequest struct {
	ClientID            string
	RedirectURI         string
	ResponseType        string
	State               string
	CodeChallenge       string
	CodeChallengeMethod string
}

func readAuthorizeRequest(v url.Values) authorizeRequest {
	return authorizeRequest{
		ClientID:            v.Get("client_id"),
		RedirectURI:         v.Get("redirect_uri"),
		ResponseType:        v.Get("response_type"),
		State:               v.Get("state"),
		CodeChallenge:       v.Get("code_challenge"),
		CodeChallengeMethod: v.Get("code_challenge_method"),
	}
}

func (a authorizeRequest) fields() []formField {
	return []formField{
		{"client_id", a.ClientID},
		{"redirect_uri", a.RedirectURI},
		{"response_type", a.ResponseType},
		{"state", a.State},
		{"code_challenge", a.CodeChallenge},
		{"code_challenge_method", a.CodeChallengeMethod},
	}
}

// validate returns what is wrong with the request, in words for the page,
// or "" when it is fine.
func (s *Sandbox) validateAuthorize(a authorizeRequest) string {
	if a.ClientID == "" {
		return "The request has no client_id."
	}
	if _, ok := s.opts.Clients[a.ClientID]; !ok {
		return "The application " + a.ClientID + " is not registered with the sandbox."
	}
	if problem := redirectProblem(a.RedirectURI); problem != "" {
		return problem
	}
	// Exactly the registered callback (RFC 6749 §3.1.2.3): any other would
	// make the sandbox an open redirect that hands codes to whoever asks.
	if !s.redirectRegistered(a.ClientID, a.RedirectURI) {
		return "redirect_uri is not the one registered for the application " + a.ClientID + "."
	}
	if a.ResponseType != "code" {
		return `response_type must be "code".`
	}
	if a.CodeChallengeMethod != "S256" {
		return `code_challenge_method must be "S256"; PKCE is required and "plain" is not accepted.`
	}
	if !pkceValueValid(a.CodeChallenge) {
		return "code_challenge is missing or malformed."
	}
	return ""
}

// redirectProblem checks a redirect_uri: absolute http(s), no fragment
// (RFC 6749 §3.1.2).
func redirectProblem(raw string) string {
	if raw == "" {
		return "The request has no redirect_uri."
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "redirect_uri must be an absolute http or https URL."
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "redirect_uri must not contain a fragment."
	}
	if u.User != nil {
		return "redirect_uri must not contain credentials."
	}
	return ""
}

// pkceValueValid checks the shape RFC 7636 gives verifiers and challenges:
// 43 to 128 unreserved characters.
func pkceValueValid(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// authorizePage shows the consent page: pick a demo user or deny.
func (s *Sandbox) authorizePage(w http.ResponseWriter, r *http.Request) {
	a := readAuthorizeRequest(r.URL.Query())
	if problem := s.validateAuthorize(a); problem != "" {
		s.renderPage(w, http.StatusBadRequest, errorPage("Invalid sign-in request", problem))
		return
	}
	s.renderPage(w, http.StatusOK, authorizePage(newAuthorizeView(a.ClientID, a.fields(), "wants to manage projects in your Convex teams.")))
}

// authorizeDecision handles the consent form: a user button or Deny.
func (s *Sandbox) authorizeDecision(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.renderPage(w, http.StatusBadRequest, errorPage("Invalid sign-in request", "The form could not be read."))
		return
	}
	a := readAuthorizeRequest(r.PostForm)
	if problem := s.validateAuthorize(a); problem != "" {
		s.renderPage(w, http.StatusBadRequest, errorPage("Invalid sign-in request", problem))
		return
	}
	if r.PostForm.Get("action") == "deny" {
		http.Redirect(w, r, callbackURL(a.RedirectURI, url.Values{
			"error":             {"access_denied"},
			"error_description": {"The user denied access to their Convex account."},
		}, a.State), http.StatusFound)
		return
	}
	u, ok := usersByKey[r.PostForm.Get("user")]
	if !ok {
		s.renderPage(w, http.StatusBadRequest, errorPage("Invalid sign-in request", "Pick one of the listed users."))
		return
	}
	code := newSecret("sbxc_")
	now := time.Now()
	s.mu.Lock()
	for k, c := range s.codes {
		if now.Sub(c.issued) > codeMemory {
			delete(s.codes, k)
		}
	}
	s.codes[hashSecret(code)] = &authCode{
		clientID:    a.ClientID,
		redirectURI: a.RedirectURI,
		challenge:   a.CodeChallenge,
		userKey:     u.Key,
		issued:      now,
	}
	s.mu.Unlock()
	http.Redirect(w, r, callbackURL(a.RedirectURI, url.Values{"code": {code}}, a.State), http.StatusFound)
}

// callbackURL adds params and state to the client's redirect_uri, keeping
// the query it already has.
func callbackURL(redirectURI string, params url.Values, state string) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return redirectURI // validated before; cannot happen
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if state != "" {
		q.Set("state", state)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// oauthError is the RFC 6749 §5.2 error answer.
type oauthError struct {
	status      int
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func invalidGrant(description string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, Code: "invalid_grant", Description: description}
}

// token exchanges an authorization code for a user access token.
func (s *Sandbox) token(w http.ResponseWriter, r *http.Request) {
	token, err := s.exchange(w, r)
	if err != nil {
		var oe *oauthError
		if !errors.As(err, &oe) {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, oe.status, oe)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]string{"access_token": token, "token_type": "bearer"})
}

// tokenForm reads a token request's bounded form body and authenticates
// the client by the credentials in it. It returns the form and client id.
func (s *Sandbox) tokenForm(w http.ResponseWriter, r *http.Request) (url.Values, string, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil, "", &oauthError{status: http.StatusBadRequest, Code: "invalid_request", Description: "The body must be application/x-www-form-urlencoded."}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return nil, "", &oauthError{status: http.StatusBadRequest, Code: "invalid_request", Description: "The form could not be read."}
	}
	// Only the body counts: the contract puts client credentials there, and
	// query parameters would leak them into logs.
	f := r.PostForm
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if clientID == "" && secret == "" {
		description := "Client credentials are required in the form body."
		if _, _, basic := r.BasicAuth(); basic {
			description = "Client credentials must be sent in the form body, not with HTTP Basic authentication."
		}
		return nil, "", &oauthError{status: http.StatusUnauthorized, Code: "invalid_client", Description: description}
	}
	if !s.clientValid(clientID, secret) {
		return nil, "", &oauthError{status: http.StatusUnauthorized, Code: "invalid_client", Description: "Unknown client or wrong client secret."}
	}
	return f, clientID, nil
}

func (s *Sandbox) exchange(w http.ResponseWriter, r *http.Request) (string, error) {
	f, clientID, err := s.tokenForm(w, r)
	if err != nil {
		return "", err
	}
	if f.Get("grant_type") != "authorization_code" {
		return "", &oauthError{status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: `grant_type must be "authorization_code".`}
	}
	code := f.Get("code")
	if code == "" {
		return "", &oauthError{status: http.StatusBadRequest, Code: "invalid_request", Description: "code is required."}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.countLocked("oauth_token", "")
	c := s.codes[hashSecret(code)]
	if c == nil {
		return "", invalidGrant("The code is unknown.")
	}
	if c.used {
		if c.tokenHash != "" {
			s.revokeTokenHashLocked(c.tokenHash)
			c.tokenHash = ""
			if err := s.saveLocked(); err != nil {
				return "", err
			}
		}
		return "", invalidGrant("The code was already used; the token issued with it is revoked.")
	}
	// Any attempt spends the code, so a stolen code cannot be tried twice.
	c.used = true
	if err := c.check(clientID, f); err != nil {
		return "", err
	}
	var token string
	if c.teamSlug != "" {
		token, err = s.issueTeamTokenLocked(usersByKey[c.userKey], teamsBySlug[c.teamSlug], c.clientID)
	} else {
		token, err = s.issueTokenLocked(usersByKey[c.userKey])
	}
	if err != nil {
		return "", err
	}
	c.tokenHash = hashSecret(token)
	return token, nil
}

// check compares a code with the token request that presents it: not
// expired, same client and redirect_uri, and a code_verifier that matches
// the challenge.
func (c *authCode) check(clientID string, f url.Values) error {
	verifier := f.Get("code_verifier")
	switch {
	case time.Since(c.issued) > codeLifetime:
		return invalidGrant("The code has expired.")
	case c.clientID != clientID:
		return invalidGrant("The code was issued to another client.")
	case c.redirectURI != f.Get("redirect_uri"):
		return invalidGrant("redirect_uri does not match the one of the authorization request.")
	case verifier == "":
		return invalidGrant("code_verifier is required.")
	case !pkceValueValid(verifier) || !secretEqual(pkceChallenge(verifier), c.challenge):
		return invalidGrant("code_verifier does not match the code_challenge.")
	}
	return nil
}

// pkceChallenge is the S256 transform of RFC 7636 §4.2.
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
