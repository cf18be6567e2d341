package sandbox

import (
	"net/http"
	"strings"
)

// routes lists every path the sandbox answers, relative to its mount point.
func (s *Sandbox) routes() http.Handler {
	mux := http.NewServeMux()

	// OAuth (CONTRACT §3). The consent form is a browser form post, so it
	// refuses cross-origin posts like the product's own forms.
	mux.HandleFunc("GET /oauth/authorize", s.authorizePage)
	consent := http.NewCrossOriginProtection()
	consent.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderPage(w, http.StatusForbidden, errorPage("Cross-origin request refused", "The sign-in form must be sent from the sandbox's own page."))
	}))
	mux.Handle("POST /oauth/authorize", consent.Handler(http.HandlerFunc(s.authorizeDecision)))
	mux.HandleFunc("POST /oauth/token", s.token)
	// The team consent of the Management API (CONTRACT §3.2); its code
	// exchanges at the same token endpoint.
	mux.HandleFunc("GET /oauth/authorize/team", s.teamAuthorizePage)
	mux.Handle("POST /oauth/authorize/team", consent.Handler(http.HandlerFunc(s.teamAuthorizeDecision)))

	// The public Management API v1 (CONTRACT §2.1), on team tokens.
	mux.HandleFunc("GET /v1/token_details", s.tokenDetails)
	mux.HandleFunc("POST /v1/teams/{teamId}/create_project", s.platformCreateProject)
	mux.HandleFunc("GET /v1/teams/{teamId}/projects", s.platformListProjects)
	mux.HandleFunc("POST /v1/projects/{projectId}/delete", s.platformDeleteProject)
	mux.HandleFunc("POST /v1/deployments/{deploymentName}/create_deploy_key", s.createDeployKey)
	mux.HandleFunc("POST /v1/deployments/{deploymentName}/delete_deploy_key", s.deleteDeployKey)
	mux.HandleFunc("GET /v1/deployments/{deploymentName}/list_deploy_keys", s.listDeployKeys)

	// OpenID Connect provider (CONTRACT §3.1), issuer {BaseURL}/oidc.
	mux.HandleFunc("GET /oidc/.well-known/openid-configuration", s.oidcDiscovery)
	mux.HandleFunc("GET /oidc/jwks", s.oidcJWKS)
	mux.HandleFunc("GET /oidc/authorize", s.oidcAuthorizePage)
	mux.Handle("POST /oidc/authorize", consent.Handler(http.HandlerFunc(s.oidcAuthorizeDecision)))
	mux.HandleFunc("POST /oidc/token", s.oidcToken)
	mux.HandleFunc("GET /oidc/userinfo", s.oidcUserinfo)
	mux.HandleFunc("POST /oidc/userinfo", s.oidcUserinfo)

	// Provision API (CONTRACT §2).
	mux.HandleFunc("GET /api/dashboard/profile", s.profile)
	mux.HandleFunc("GET /api/dashboard/teams", s.teams)
	mux.HandleFunc("POST /api/create_project", s.createProject)
	mux.HandleFunc("POST /api/dashboard/authorize", s.authorizeProject)
	mux.HandleFunc("GET /api/teams/{teamSlug}/projects", s.listProjects)
	mux.HandleFunc("POST /api/dashboard/delete_project/{projectId}", s.deleteProject)
	mux.HandleFunc("GET /api/dashboard/teams/{teamSlug}/usage/get_token_info", s.tokenInfo)
	mux.HandleFunc("POST /api/dashboard/teams/{teamSlug}/usage/record_tokens", s.recordTokens)
	mux.HandleFunc("POST /api/hosting/deploy", s.hostingDeploy)

	// The deployment itself, at BaseURL/d/{name}.
	mux.HandleFunc("POST /d/{name}/api/v1/update_environment_variables", s.updateEnv)
	mux.HandleFunc("GET /d/{name}/api/v1/list_environment_variables", s.listEnv)

	// Pages a person clicks: the hosted site and the dashboard.
	mux.HandleFunc("GET /sites/{name}", s.siteRoot)
	mux.HandleFunc("GET /sites/{name}/{path...}", s.siteFile)
	mux.HandleFunc("GET /dashboard/d/{name}", s.dashboard)
	mux.HandleFunc("GET /dashboard/t/{team}", s.teamDashboard)
	// The embeddable dashboard the product frames (CONTRACT §2.4).
	mux.HandleFunc("GET /dashboard-embedded/{page}", s.embeddedDashboard)
	mux.HandleFunc("GET /dashboard-embedded/static/embed.js", s.embeddedDashboardScript)

	return jsonFallback(mux)
}

// jsonFallback answers unknown paths and wrong methods with JSON instead of
// the mux's plain text, since every API answer is JSON.
func jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "Use %s.", strings.Join(allow, " or ")))
			return
		}
		writeJSON(w, http.StatusNotFound, errorf(http.StatusNotFound, "NotFound", "No such endpoint."))
	})
}
