package handlers

import (
	"context"
	"net/http"
	"sync"
	"time"

	"chefdeploy/convex"
	"chefdeploy/models"
	"chefdeploy/views"
)

// authVars are the variables chefdeploy sets on every deployment it connects.
var authVars = []string{"JWT_PRIVATE_KEY", "JWKS", "SITE_URL"}

// appDashboard is the app's project page: the deployment, its links, the
// variables chefdeploy manages and the embedded Convex dashboard.
func (s *Server) appDashboard(w http.ResponseWriter, r *http.Request) {
	_, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	conn, key, ok := s.connectedWithKey(w, r, app)
	if !ok {
		return
	}
	v := views.ProjectDashboardView{
		AppID: app.ID, AppName: app.Name, TeamSlug: conn.TeamSlug, ProjectSlug: conn.ProjectSlug,
		DeploymentName: conn.DeploymentName, DeploymentURL: conn.DeploymentURL,
		DashboardURL: s.cfg.DashboardLink(conn.DeploymentName),
		EmbedURL:     s.cfg.DashboardLink(conn.DeploymentName) + "?embedded=true",
		EmbedOrigin:  originOf(s.cfg.DashboardURL),
		SiteURL:      s.cfg.SiteLink(conn.DeploymentName),
		Env:          s.envVarsView(r.Context(), app.ID, conn, key),
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

// envVarsView asks the deployment which managed variables are set.
func (s *Server) envVarsView(ctx context.Context, appID string, conn models.Connection, key string) views.EnvVarsView {
	v := views.EnvVarsView{AppID: appID}
	names, err := models.ManagedEnvVars(ctx, s.db, appID, authVars)
	if err != nil {
		v.Message, v.Error = "Could not list the variables.", true
		return v
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v.Vars = make([]views.EnvVarItem, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			state := "unknown"
			if _, set, err := s.convex.EnvironmentVariable(ctx, conn.DeploymentURL, key, name); err == nil {
				state = map[bool]string{true: "set", false: "unset"}[set]
			}
			v.Vars[i] = views.EnvVarItem{Name: name, State: state}
		}()
	}
	wg.Wait()
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

// appEnv sets or unsets one managed variable on the deployment.
func (s *Server) appEnv(w http.ResponseWriter, r *http.Request) {
	sess, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	conn, key, ok := s.connectedWithKey(w, r, app)
	if !ok {
		return
	}
	name, value, action := r.PostFormValue("name"), r.PostFormValue("value"), r.PostFormValue("action")
	show := func(status int, msg string, isErr bool) {
		v := s.envVarsView(r.Context(), app.ID, conn, key)
		v.Message, v.Error = msg, isErr
		s.render(w, r, status, app.Name, views.EnvVars(v))
	}
	if msg := models.CheckEnvVar(name, value, action); msg != "" {
		show(http.StatusUnprocessableEntity, msg, true)
		return
	}
	change := convex.EnvChange{Name: name}
	if action == "set" {
		change.Value = &value
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := s.convex.UpdateEnvironmentVariables(ctx, conn.DeploymentURL, key, []convex.EnvChange{change}); err != nil {
		s.log.Warn("update_environment_variables failed", "request_id", RequestID(r.Context()), "err", err)
		show(http.StatusBadGateway, "The deployment did not accept the change: "+convex.UserMessage(err), true)
		return
	}
	// The deployment has the change; if it cannot be recorded the person is
	// told, rather than shown a success the audit trail does not have.
	if err := models.TrackEnvVar(r.Context(), s.db, sess.UserID, app.ID, action, name); err != nil {
		s.renderError(w, r, err)
		return
	}
	show(http.StatusOK, map[string]string{"set": "Set ", "unset": "Unset "}[action]+name+".", false)
}
