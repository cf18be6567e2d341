package handlers

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"chefdeploy/config"
)

// discoveryRetry bounds how often a provider that could not be discovered
// is asked again: logins meanwhile get the "unavailable" page at once.
const discoveryRetry = 5 * time.Second

// discoveryTimeout bounds one discovery request.
const discoveryTimeout = 10 * time.Second

// errLoginUnavailable is a login provider that could not be discovered.
var errLoginUnavailable = errors.New("the login provider could not be discovered")

// loginProvider is the OIDC provider of CONTRACT §3.1, discovered on first
// use and then kept, so that a provider down at start-up stops only the
// logins, never the product.
type loginProvider struct {
	cfg    *config.Config
	client *http.Client

	mu       sync.Mutex
	ready    *discoveredProvider
	failedAt time.Time
}

// discoveredProvider is what discovery gives the login: its endpoints as an
// OAuth client, and the ID token verifier.
type discoveredProvider struct {
	provider *oidc.Provider
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newLoginProvider(cfg *config.Config, client *http.Client) *loginProvider {
	return &loginProvider{cfg: cfg, client: client}
}

// get returns the discovered provider, discovering it if it never was and
// the last failure is older than discoveryRetry. Discovery is bounded by
// discoveryTimeout; concurrent callers wait for one attempt.
func (p *loginProvider) get(ctx context.Context) (*discoveredProvider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready != nil {
		return p.ready, nil
	}
	if !p.failedAt.IsZero() && time.Since(p.failedAt) < discoveryRetry {
		return nil, errLoginUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, p.client), p.cfg.OIDCIssuerURL)
	if err != nil {
		p.failedAt = time.Now()
		return nil, errors.Join(errLoginUnavailable, err)
	}
	endpoint := provider.Endpoint()
	// Client credentials go in the form body (CONTRACT §3).
	endpoint.AuthStyle = oauth2.AuthStyleInParams
	p.ready = &discoveredProvider{
		provider: provider,
		oauth: &oauth2.Config{
			ClientID:     p.cfg.OIDCClientID,
			ClientSecret: p.cfg.OIDCClientSecret,
			RedirectURL:  p.cfg.RedirectURL(),
			Endpoint:     endpoint,
			Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
		},
		verifier: provider.Verifier(&oidc.Config{ClientID: p.cfg.OIDCClientID}),
	}
	return p.ready, nil
}
