package sandbox

import (
	"maps"
	"net/http"
	"regexp"
	"slices"
)

const (
	// maxEnvBody bounds an environment update: many variables of up to
	// maxEnvValueBytes each.
	maxEnvBody = 4 << 20
	// maxEnvValueBytes is the real service's limit on a value.
	maxEnvValueBytes = 8 << 10
	// envQueryPath is the only query the sandbox deployment runs.
	envQueryPath = "_system/cli/queryEnvironmentVariables:get"
)

// envNamePattern is Convex's rule: a letter, then letters, digits and
// underscores, at most 40 characters.
var envNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,39}$`)

// deploymentAuth checks `Authorization: Convex {key}` for a deployment. The
// key is a deploy key of the deployment's project or its admin key.
func (s *Sandbox) deploymentAuth(r *http.Request, name string) (*project, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectByDeploymentLocked(name)
	if p == nil {
		return nil, errorf(http.StatusNotFound, "DeploymentNotFound", "No deployment named %s.", name)
	}
	key, ok := credential(r, "Convex")
	if !ok {
		return nil, errorf(http.StatusUnauthorized, "MissingAccessToken", "An admin key or deploy key is required.")
	}
	if kp := s.projectForDeployKeyLocked(key); kp == p {
		return p, nil
	}
	if secretEqual(hashSecret(key), p.AdminKeyHash) {
		return p, nil
	}
	return nil, errorf(http.StatusUnauthorized, "BadAdminKey", "The key is not valid for this deployment.")
}

type envChange struct {
	Name  string  `json:"name"`
	Value *string `json:"value"`
}

func (s *Sandbox) updateEnv(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p, aerr := s.deploymentAuth(r, name)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	var req struct {
		Changes []envChange `json:"changes"`
	}
	if aerr := decodeJSON(w, r, maxEnvBody, &req); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	// All or nothing: one bad change rejects the whole update.
	for _, c := range req.Changes {
		if !envNamePattern.MatchString(c.Name) {
			s.writeError(w, r, errorf(http.StatusBadRequest, "InvalidEnvironmentVariableName",
				"Environment variable name %q must start with a letter, contain only letters, digits and underscores, and be at most 40 characters.", c.Name))
			return
		}
		if c.Value != nil && len(*c.Value) > maxEnvValueBytes {
			s.writeError(w, r, errorf(http.StatusBadRequest, "EnvironmentVariableValueTooLarge",
				"The value of %s is larger than %d bytes.", c.Name, maxEnvValueBytes))
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.projectByDeploymentLocked(name) != p {
		s.writeError(w, r, errorf(http.StatusNotFound, "DeploymentNotFound", "No deployment named %s.", name))
		return
	}
	s.countLocked("update_environment_variables", p.TeamSlug)
	before := maps.Clone(s.st.Env[name])
	env := s.st.Env[name]
	if env == nil {
		env = map[string]string{}
		s.st.Env[name] = env
	}
	for _, c := range req.Changes {
		if c.Value == nil {
			delete(env, c.Name)
		} else {
			env[c.Name] = *c.Value
		}
	}
	if err := s.saveLocked(); err != nil {
		s.st.Env[name] = before
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// queryError is a function call's failure, in the shape of Convex's query
// endpoint.
type queryError struct {
	Status       string `json:"status"`
	ErrorMessage string `json:"errorMessage"`
}

func (s *Sandbox) query(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p, aerr := s.deploymentAuth(r, name)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	var req struct {
		Path   string           `json:"path"`
		Format string           `json:"format"`
		Args   []map[string]any `json:"args"`
	}
	if aerr := decodeJSON(w, r, maxJSONBody, &req); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	s.mu.Lock()
	s.countLocked("query", p.TeamSlug)
	s.mu.Unlock()
	if req.Path != envQueryPath {
		writeJSON(w, http.StatusNotFound, queryError{Status: "error",
			ErrorMessage: "Could not find public function for '" + req.Path + "'. Did you forget to run `npx convex dev`?"})
		return
	}
	if req.Format != "" && req.Format != "convex_encoded_json" && req.Format != "json" {
		writeJSON(w, http.StatusBadRequest, queryError{Status: "error", ErrorMessage: `format must be "convex_encoded_json" or "json".`})
		return
	}
	var varName string
	if len(req.Args) == 1 {
		varName, _ = req.Args[0]["name"].(string)
	}
	if varName == "" {
		writeJSON(w, http.StatusBadRequest, queryError{Status: "error", ErrorMessage: `args must be [{"name": string}].`})
		return
	}
	s.mu.Lock()
	value, ok := s.st.Env[name][varName]
	s.mu.Unlock()
	var result any // null when unset
	if ok {
		result = map[string]string{"name": varName, "value": value}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "value": result, "logLines": []string{}})
}

// dashboard is the deployment's page on the sandbox dashboard. It lists the
// variable names but never their values.
// embedScript is the sandbox dashboard's side of the embedding protocol:
// framed by a parent page, it asks the parent for credentials, then proves
// them by querying the deployment with the key it was given.
const embedScript = `(function () {
  "use strict";
  var status = document.querySelector("[data-testid=sandbox-embed-status]");
  if (!status || window.parent === window) return;
  var deployment = status.getAttribute("data-deployment");
  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || !event.data || event.data.type !== "dashboard-credentials") return;
    if (event.data.deploymentName !== deployment) { status.textContent = "Got credentials for another deployment."; return; }
    fetch(event.data.deploymentUrl + "/api/query", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Convex " + event.data.adminKey },
      body: JSON.stringify({ path: "_system/cli/queryEnvironmentVariables:get", format: "convex_encoded_json", args: [{ name: "SITE_URL" }] })
    }).then(function (res) {
      status.textContent = res.ok ? "Signed in to " + deployment + " with the app's deploy key." : "The credentials were refused.";
      status.setAttribute("data-signed-in", res.ok ? "true" : "false");
    });
  });
  // Ask until answered (a parent may start listening late), for a while.
  var tries = 0;
  (function ask() {
    if (status.getAttribute("data-signed-in") || tries++ >= 20) return;
    window.parent.postMessage({ type: "dashboard-credentials-request" }, "*");
    setTimeout(ask, 500);
  })();
})();
`

// dashboardEmbed serves embedScript.
func (s *Sandbox) dashboardEmbed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Write([]byte(embedScript))
}

func (s *Sandbox) dashboard(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	p := s.projectByDeploymentLocked(name)
	var v dashboardView
	if p != nil {
		team := teamsBySlug[p.TeamSlug]
		v = dashboardView{
			ProjectName:    p.Name,
			TeamName:       team.Name,
			TeamSlug:       team.Slug,
			DeploymentName: p.DeploymentName,
			DeploymentURL:  s.base + "/d/" + p.DeploymentName,
			EnvNames:       slices.Sorted(maps.Keys(s.st.Env[name])),
			EmbedScript:    s.base + "/dashboard/embed.js",
		}
		if p.Site != nil {
			v.SiteURL = s.siteURL(p.DeploymentName)
		}
	}
	s.mu.Unlock()
	if p == nil {
		s.renderPage(w, http.StatusNotFound, errorPage("Deployment not found", "There is no deployment named "+name+" in the sandbox."))
		return
	}
	s.renderPageFraming(w, http.StatusOK, dashboardPage(v), true)
}
