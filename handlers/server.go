// Package handlers is chefdeploy's HTTP layer: the routes, their middleware,
// and one handler per file that parses, checks access, calls the models and
// renders a page or redirects.
package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/sessions"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"chefdeploy/config"
	"chefdeploy/convex"
	"chefdeploy/jobs"
	"chefdeploy/models"
)

// Deps is what the handlers need from the rest of the program.
type Deps struct {
	Config *config.Config
	DB     *sqlx.DB
	// Convex is the provision-host client: builder mode's team lists.
	Convex *convex.Client
	// Backend is Convex in the mode the product runs in, Credentials what
	// its calls act with, and Teams where the team selector's teams come
	// from; the replica chooses all three together (CONVEX_API).
	Backend     convex.Backend
	Credentials jobs.CredentialSource
	Teams       TeamSource
	Logger      *slog.Logger
	// Registry receives the HTTP metrics; nil makes a private one.
	Registry *prometheus.Registry
	// Sandbox is the built-in Convex sandbox, mounted at /sandbox when set.
	Sandbox http.Handler
	// HTTPClient makes the OAuth token exchange; nil uses a default with timeouts.
	HTTPClient *http.Client
	// Jobs inserts background work (it need not run any) and owns the
	// connection state machine.
	Jobs *jobs.Queue
	// Statuses caches what the status fragment shows; nil makes one that
	// never serves from memory (no LISTEN running).
	Statuses *models.StatusCache
	// Sessions caches the signed-in sessions; nil makes one that never
	// serves from memory (no LISTEN running).
	Sessions *models.SessionCache
}

// Server holds the handlers' dependencies; every handler is a method on it.
type Server struct {
	cfg      *config.Config
	db       *sqlx.DB
	convex   *convex.Client
	backend  convex.Backend
	creds    jobs.CredentialSource
	teams    teamDirectory
	log      *slog.Logger
	registry *prometheus.Registry
	metrics  *httpMetrics
	sandbox  http.Handler
	client   *http.Client
	oauth    *oauth2.Config
	// login is the OIDC provider of the login, discovered on first use.
	login    *loginProvider
	cookies  *sessions.CookieStore
	migrated atomic.Bool
	jobs     *jobs.Queue
	// connections owns every transition of a connection.
	connections *jobs.Connections
	statuses    *models.StatusCache
	sessions    *models.SessionCache
	// sidMemo remembers what session cookies decode to.
	sidMemo *cookieMemo
	// uploads bounds the deploy uploads in flight.
	uploads *uploadGate
	// creating lets each user's app creates through one at a time.
	creating turns
	// mux is the router Routes built, which tells renderError a request's
	// route before the mux has seen it.
	mux *http.ServeMux
	// teamFetches joins concurrent team-list fetches of one user.
	teamFetches singleflight.Group
	// limits are the rate limits on logins and costly actions.
	limits *rateLimits
	// teamOAuth and platform authorize Convex teams (CONTRACT §3.2).
	teamOAuth *oauth2.Config
	platform  *convex.Platform
}

// New builds the server from its dependencies.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if d.Statuses == nil {
		d.Statuses = models.NewStatusCache(d.DB, d.Logger)
	}
	if d.Sessions == nil {
		d.Sessions = models.NewSessionCache(d.DB, d.Logger)
	}
	cfg := d.Config
	s := &Server{
		cfg:         cfg,
		db:          d.DB,
		convex:      d.Convex,
		backend:     d.Backend,
		creds:       d.Credentials,
		log:         d.Logger,
		registry:    d.Registry,
		metrics:     newHTTPMetrics(d.Registry),
		sandbox:     d.Sandbox,
		client:      d.HTTPClient,
		jobs:        d.Jobs,
		connections: d.Jobs.Connections,
		statuses:    d.Statuses,
		sessions:    d.Sessions,
		sidMemo:     newCookieMemo(cookieMemoTTL),
		uploads:     newUploadGate(cfg.MaxUploadsPerUser, cfg.UploadTempMaxBytes, cfg.UploadMinRate, cfg.UploadRateWindow),
		limits:      newRateLimits(cfg),
		login:       newLoginProvider(cfg, d.HTTPClient),
		oauth: &oauth2.Config{
			ClientID:     cfg.OAuthClientID,
			ClientSecret: cfg.OAuthClientSecret,
			RedirectURL:  cfg.RedirectURL(),
			Endpoint: oauth2.Endpoint{
				AuthURL:   cfg.OAuthAuthorizeURL,
				TokenURL:  cfg.OAuthTokenURL,
				AuthStyle: oauth2.AuthStyleInParams,
			},
		},
	}
	s.teamOAuth, s.platform = teamOAuthConfig(cfg), newPlatform(cfg)
	s.teams = s.newTeamDirectory(d.Teams)
	// Two keys derived from SESSION_SECRET: one signs the cookie, one encrypts it.
	s.cookies = sessions.NewCookieStore(deriveKey(cfg.SessionSecret, "cookie-hash"), deriveKey(cfg.SessionSecret, "cookie-block"))
	s.cookies.Options = &sessions.Options{
		Path:     "/",
		HttpOnly: true,
		Secure:   cfg.SecureCookies(),
		SameSite: http.SameSiteLaxMode,
	}
	return s
}

func deriveKey(secret []byte, label string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("chefdeploy " + label))
	return mac.Sum(nil)
}
