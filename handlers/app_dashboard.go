package handlers

import (
	"context"
	"net/http"
	"time"

	"chefdeploy/models"
	"chefdeploy/views"
)

// authVars are the variables chefdeploy sets on every deployment it connects.
var authVars = []string{"JWT_PRIVATE_KEY", "JWKS", "SITE_URL"}

// appDashboard is the app's project page: the deployment, its links, the
// variables chefdeploy manages and the embedded Convex dashboard, framed at
// the page ?page= names (CONTRACT §2.4).
func (s *Server) appDashboard(w http.ResponseWriter, r *http.Request) {
	_, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	conn, key, ok := s.connectedWithKey(w, r, app)
	if !ok {
		return
	}
	// The framed page comes from the URL, checked against the list.
	page := views.DashboardPage(r.URL.Query().Get("page"))
	v := views.ProjectDashboardView{
		AppID: app.ID, AppName: app.Name, TeamSlug: conn.TeamSlug, ProjectSlug: conn.ProjectSlug,
		DeploymentName: conn.DeploymentName, DeploymentURL: conn.DeploymentURL,
		DashboardURL: s.cfg.DashboardLink(conn.DeploymentName),
		EmbedURL:     s.cfg.DashboardEmbedPage(page),
		EmbedOrigin:  originOf(s.cfg.DashboardEmbedURL),
		Page:         page,
		Env:          s.envVarsView(r.Context(), app.ID, s.deploymentEnv(r.Context(), conn, key)),
	}
	// Before the first live deploy there is no site to open.
	if app.LastDeployedAt.Valid {
		v.SiteURL = s.cfg.SiteLink(conn.DeploymentName)
	}
	s.render(w, r, http.StatusOK, app.Name, views.ProjectDashboard(v))
}

// connectedWithKey returns the app's connection and its opened deploy key,
// or answers that the app is not connected.
func (s *Server) connectedWithKey(w http.ResponseWriter, r *http.Request, app models.App) (models.Connection, string, bool) {
	conn, err := models.ConnectionByApp(r.Context(), s.db, app.ID)
	if err != nil || conn.State != models.StateConnected || conn.DeployKey == "" {
		if err != nil && err != models.ErrNotFound {
			s.renderError(w, r, err)
		} else {
			s.renderError(w, r, models.Errorf(models.ENOTFOUND, "This app is not connected to Convex yet."))
		}
		return conn, "", false
	}
	key, err := s.cfg.Credentials.OpenString(conn.DeployKey, models.DeployKeyPurpose(app.ID))
	if err != nil {
		s.renderError(w, r, err)
		return conn, "", false
	}
	return conn, key, true
}

// deploymentEnv reads the deployment's variables in one call; nil when the
// deployment did not answer in time, which the page shows as "unknown".
func (s *Server) deploymentEnv(ctx context.Context, conn models.Connection, key string) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	env, err := s.backend.EnvironmentVariables(ctx, conn.DeploymentURL, key)
	if err != nil {
		s.log.Warn("list_environment_variables failed", "request_id", RequestID(ctx), "err", err)
		return nil
	}
	return env
}

// envVarsView shows which managed variables env, the deployment's
// variables, has set; a nil env shows each as unknown.
func (s *Server) envVarsView(ctx context.Context, appID string, env map[string]string) views.EnvVarsView {
	v := views.EnvVarsView{AppID: appID}
	names, err := models.ManagedEnvVars(ctx, s.db, appID, authVars)
	if err != nil {
		v.Message, v.Error = "Could not list the variables.", true
		return v
	}
	for _, name := range names {
		state := "unknown"
		if env != nil {
			state = "unset"
			if _, ok := env[name]; ok {
				state = "set"
			}
		}
		v.Vars = append(v.Vars, views.EnvVarItem{Name: name, State: state})
	}
	return v
}

// appDashboardCredentials hands the embedded Convex dashboard its
// credentials, on the page's request; the reveal is recorded.
func (s *Server) appDashboardCredentials(w http.ResponseWriter, r *http.Request) {
	sess, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	conn, key, ok := s.connectedWithKey(w, r, app)
	if !ok {
		return
	}
	// An audited reveal: no key leaves unless the reveal is recorded.
	if err := models.RecordEvent(r.Context(), s.db, sess.UserID, app.ID, models.EventKeyRevealed, "to the embedded Convex dashboard"); err != nil {
		s.renderError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"adminKey": key, "deploymentUrl": conn.DeploymentURL, "deploymentName": conn.DeploymentName,
	})
}
