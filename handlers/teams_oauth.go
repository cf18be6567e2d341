package handlers

import (
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"chefdeploy/config"
	"chefdeploy/convex"
)

// TeamsCallbackPath is where Convex's team consent comes back to
// (CONTRACT §3.2); the OAuth application registers {BASE_URL} + it.
const TeamsCallbackPath = "/teams/callback"

// teamOAuthConfig is our Convex OAuth application as the team grant flow
// uses it: PKCE S256, credentials in the form body.
func teamOAuthConfig(cfg *config.Config) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     cfg.OAuthClientID,
		ClientSecret: cfg.OAuthClientSecret,
		RedirectURL:  cfg.BaseURL + TeamsCallbackPath,
		Endpoint: oauth2.Endpoint{
			AuthURL:   teamAuthorizeURL(cfg),
			TokenURL:  cfg.OAuthTokenURL,
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// teamAuthorizeURL is CONVEX_OAUTH_AUTHORIZE_URL, the team consent page.
// Until the login moves to OIDC, the sandbox's setting names its login page
// {sandbox}/oauth/authorize, whose team consent is {…}/team; production's
// default already is the team consent.
// TODO(merge): once login is OIDC, this is cfg.OAuthAuthorizeURL as it is.
func teamAuthorizeURL(cfg *config.Config) string {
	u, err := url.Parse(cfg.OAuthAuthorizeURL)
	if err == nil && strings.HasSuffix(u.Path, "/oauth/authorize") {
		u.Path += "/team"
		return u.String()
	}
	return cfg.OAuthAuthorizeURL
}

// managementAPIURL is CONVEX_API_URL, the base of the Management API
// (CONTRACT §2.1). Until config reads that setting it is derived from
// PROVISION_HOST, whose default is the same https://api.convex.dev and which
// in sandbox mode (and in tests) is the sandbox, which serves both.
// TODO(merge): once config has CONVEX_API_URL, return it here.
func managementAPIURL(cfg *config.Config) string { return cfg.ProvisionHost }

// newPlatform is the Management API client the team grant flow reads
// token_details with.
func newPlatform(cfg *config.Config) *convex.Platform {
	return convex.NewPlatform(convex.Options{BaseURL: managementAPIURL(cfg)})
}
