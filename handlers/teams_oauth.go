package handlers

import (
	"golang.org/x/oauth2"

	"chefdeploy/config"
	"chefdeploy/convex"
)

// TeamsCallbackPath is where Convex's team consent comes back to
// (CONTRACT §3.2); the OAuth application registers {BASE_URL} + it.
const TeamsCallbackPath = "/teams/callback"

// TeamsAuthorizePath starts authorizing a Convex team (CONTRACT §3.2).
const TeamsAuthorizePath = "/teams/authorize"

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

// teamAuthorizeURL is where a team is authorized: Convex's consent page
// (CONVEX_OAUTH_AUTHORIZE_URL, CONTRACT §3.2).
func teamAuthorizeURL(cfg *config.Config) string { return cfg.OAuthAuthorizeURL }

// managementAPIURL is CONVEX_API_URL, the base of the Management API
// (CONTRACT §2.1).
func managementAPIURL(cfg *config.Config) string { return cfg.ConvexAPIURL }

// newPlatform is the Management API client the team grant flow reads
// token_details with.
func newPlatform(cfg *config.Config) *convex.Platform {
	return convex.NewPlatform(convex.Options{BaseURL: managementAPIURL(cfg)})
}
