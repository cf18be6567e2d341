package handlers

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"chefdeploy/config"
	"chefdeploy/static"
)

// Routes is every route of the product and the middleware around them, in the
// order a request passes through it.
func (s *Server) Routes() http.Handler {
	mux := http.NewServeMux()

	mux.HandleFunc("GET /{$}", s.dashboard)
	mux.Handle("GET /auth/login", s.rateLimited(limitLogin, s.authLogin))
	mux.HandleFunc("GET /auth/callback", s.authCallback)
	mux.HandleFunc("POST /auth/logout", s.authLogout)

	mux.Handle("POST /apps", s.rateLimited(limitCreate, s.appCreate))
	mux.HandleFunc("GET /apps/{id}", s.appShow)
	mux.HandleFunc("POST /apps/{id}/rename", s.appRename)
	mux.HandleFunc("POST /apps/{id}/delete", s.appDelete)
	mux.HandleFunc("GET /apps/{id}/teams", s.appTeams)
	mux.Handle("POST /apps/{id}/connect", s.rateLimited(limitConnect, s.appConnect))
	mux.HandleFunc(statusPollRoute, s.appStatus)
	mux.HandleFunc("POST /apps/{id}/disconnect", s.appDisconnect)
	mux.HandleFunc("POST /apps/{id}/deploy-key", s.appRevealDeployKey)
	mux.HandleFunc("GET /apps/{id}/deploys", s.appDeploys)
	mux.Handle("POST /apps/{id}/deploys", s.rateLimited(limitDeploy, s.appDeploy))
	mux.HandleFunc("POST /apps/{id}/deploys/{deploy}/rollback", s.appRollback)
	mux.HandleFunc("GET /apps/{id}/usage", s.appUsage)
	mux.HandleFunc("GET /apps/{id}/dashboard", s.appDashboard)
	mux.HandleFunc("POST /apps/{id}/dashboard/credentials", s.appDashboardCredentials)
	mux.HandleFunc("POST /apps/{id}/env", s.appEnv)

	mux.HandleFunc("GET "+TeamsAuthorizePath, s.teamAuthorize)
	mux.HandleFunc("GET "+TeamsCallbackPath, s.teamCallback)
	mux.HandleFunc("POST /teams/{teamId}/forget", s.teamForget)

	mux.HandleFunc("GET /settings", s.settings)
	mux.HandleFunc("POST /settings/tokens", s.settingsTokenCreate)
	mux.HandleFunc("POST /settings/tokens/{token}/revoke", s.settingsTokenRevoke)
	mux.HandleFunc("POST /api/usage", s.apiUsage)

	mux.Handle("GET /support", s.supportOnly(s.supportList))
	mux.Handle("GET /support/events", s.supportOnly(s.supportEvents))
	mux.Handle("GET /support/apps/{id}", s.supportOnly(s.supportApp))
	mux.Handle("POST /support/apps/{id}/fail", s.supportOnly(s.supportFail))

	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metricsScraper(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})))
	mux.Handle("GET /static/", static.Handler())
	mux.Handle("GET /favicon.ico", static.Favicon())
	if s.sandbox != nil {
		mux.Handle(config.SandboxPath+"/", http.StripPrefix(config.SandboxPath, s.sandbox))
	}
	mux.Handle("/", s.noRoute(mux))
	s.mux = mux

	var h http.Handler = mux
	h = s.refuseBadBytes(h)   // 404 / 422 for invalid UTF-8 and controls in the path / query
	h = s.observe(h)          // metrics and the access log, by route pattern
	h = s.loadSession(h)      // the signed-in user, if any
	h = s.crossOriginGuard(h) // refuses cross-origin POSTs
	h = securityHeaders(s.cfg)(h)
	h = s.recoverPanics(h)
	h = requestID(h)
	h = ownStack(h) // the request's deep stack leaves with it (middleware.go)
	return h
}
