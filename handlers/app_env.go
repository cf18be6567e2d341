package handlers

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"time"

	"chefdeploy/convex"
	"chefdeploy/models"
	"chefdeploy/views"
)

// envForm is a set or unset of one variable.
type envForm struct {
	Action, Name, Value string
}

// Validate says what is wrong with the form, stating the deployment's
// rule; "" when nothing is.
func (f envForm) Validate() string {
	if f.Action != "set" && f.Action != "unset" {
		return "Choose to set or unset the variable."
	}
	if p := convex.EnvNameProblem(f.Name); p != "" {
		return p
	}
	if f.Action == "set" && f.Value == "" {
		return "Give the variable a value (or unset it)."
	}
	return convex.EnvValueProblem(f.Value)
}

// appEnv sets or unsets one variable on the deployment. It reads the
// deployment's variables once, to check the change against the deployment's
// limits and to render the answer; unsetting a name that is not set changes
// nothing and calls nothing more.
func (s *Server) appEnv(w http.ResponseWriter, r *http.Request) {
	sess, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	conn, key, ok := s.connectedWithKey(w, r, app)
	if !ok {
		return
	}
	f := envForm{Action: r.PostFormValue("action"), Name: r.PostFormValue("name"), Value: r.PostFormValue("value")}
	var env map[string]string
	show := func(status int, msg string, isErr bool) {
		v := s.envVarsView(r.Context(), app.ID, env)
		v.Message, v.Error = msg, isErr
		if isErr && f.Action == "set" {
			v.Name = f.Name
		}
		s.render(w, r, status, app.Name, views.EnvVars(v))
	}
	if msg := f.Validate(); msg != "" {
		show(http.StatusUnprocessableEntity, msg, true)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	env, err := s.backend.EnvironmentVariables(ctx, conn.DeploymentURL, key)
	if err != nil {
		s.log.Warn("list_environment_variables failed", "request_id", RequestID(r.Context()), "err", err)
		show(http.StatusBadGateway, "Could not read the deployment's variables: "+convex.UserMessage(err), true)
		return
	}

	change := convex.EnvChange{Name: f.Name}
	next := maps.Clone(env)
	if f.Action == "unset" {
		if _, set := env[f.Name]; !set {
			show(http.StatusOK, f.Name+" is not set; nothing changed.", false)
			return
		}
		delete(next, f.Name)
	} else {
		change.Value = &f.Value
		next[f.Name] = f.Value
		if msg := envLimitProblem(next); msg != "" {
			show(http.StatusUnprocessableEntity, msg, true)
			return
		}
	}
	if err := s.backend.UpdateEnvironmentVariables(ctx, conn.DeploymentURL, key, []convex.EnvChange{change}); err != nil {
		s.log.Warn("update_environment_variables failed", "request_id", RequestID(r.Context()), "err", err)
		show(http.StatusBadGateway, "The deployment did not accept the change: "+convex.UserMessage(err), true)
		return
	}
	env = next
	// The deployment has the change; if it cannot be tracked and audited the
	// person is told, rather than shown a success the audit trail lacks.
	if err := models.TrackEnvVar(r.Context(), s.db, sess.UserID, app.ID, f.Action, f.Name, convex.MaxEnvVars); err != nil {
		if models.ErrorCode(err) == models.EINVALID {
			show(http.StatusUnprocessableEntity, models.ErrorMessage(err), true)
			return
		}
		s.renderError(w, r, err)
		return
	}
	show(http.StatusOK, map[string]string{"set": "Set ", "unset": "Unset "}[f.Action]+f.Name+".", false)
}

// envLimitProblem says which of the deployment's limits env, its variables
// after a change, would break; "" when none.
func envLimitProblem(env map[string]string) string {
	if len(env) > convex.MaxEnvVars {
		return fmt.Sprintf("A deployment holds at most %d variables. Unset one first.", convex.MaxEnvVars)
	}
	if convex.EnvSize(env) > convex.MaxEnvTotalBytes {
		return fmt.Sprintf("A deployment's variables take at most %d KiB together (names and values). Unset one or use a shorter value.", convex.MaxEnvTotalBytes>>10)
	}
	return ""
}
