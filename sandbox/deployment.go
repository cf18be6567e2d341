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
	// The real service's limits (CONTRACT §2.3): a name's and a value's
	// length, and a deployment's variables together.
	maxEnvNameBytes  = 256
	maxEnvValueBytes = 8 << 10
	maxEnvVars       = 512
	maxEnvTotalBytes = 512 << 10
)

// envNamePattern is the deployment's rule for a variable name.
var envNamePattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// deploymentAuth checks `Authorization: Convex {key}` for a deployment. The
// key is a deploy key of the deployment's project (from authorize or
// create_deploy_key) or its admin key.
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
	h := hashSecret(key)
	if secretEqual(h, p.AdminKeyHash) {
		return p, nil
	}
	for _, k := range p.DeployKeys {
		if secretEqual(h, k.Hash) {
			return p, nil
		}
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
		if aerr := checkEnvChange(c); aerr != nil {
			s.writeError(w, r, aerr)
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
	if aerr := checkEnvTotals(env); aerr != nil {
		s.st.Env[name] = before
		s.writeError(w, r, aerr)
		return
	}
	if err := s.saveLocked(); err != nil {
		s.st.Env[name] = before
		s.writeError(w, r, err)
		return
	}
	// The real service answers 200 with an empty body.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// checkEnvChange refuses what the real service refuses in one change.
func checkEnvChange(c envChange) *apiError {
	switch {
	case len(c.Name) > maxEnvNameBytes:
		return errorf(http.StatusBadRequest, "EnvironmentVariableNameTooLong",
			"Environment variable name is longer than %d bytes.", maxEnvNameBytes)
	case !envNamePattern.MatchString(c.Name):
		return errorf(http.StatusBadRequest, "EnvironmentVariableNameInvalid",
			"Environment variable name %q must match ^[a-zA-Z_][a-zA-Z0-9_]*$.", c.Name)
	case c.Value != nil && len(*c.Value) > maxEnvValueBytes:
		return errorf(http.StatusBadRequest, "EnvironmentVariableValueTooLarge",
			"The value of %s is larger than %d bytes.", c.Name, maxEnvValueBytes)
	}
	return nil
}

// checkEnvTotals refuses a deployment's variables beyond the service's
// limits on their number and their size together. The contract names no
// codes for these; the sandbox's are in the README.
func checkEnvTotals(env map[string]string) *apiError {
	if len(env) > maxEnvVars {
		return errorf(http.StatusBadRequest, "EnvironmentVariablesTooMany",
			"A deployment has at most %d environment variables.", maxEnvVars)
	}
	size := 0
	for k, v := range env {
		size += len(k) + len(v)
	}
	if size > maxEnvTotalBytes {
		return errorf(http.StatusBadRequest, "EnvironmentVariablesTooLarge",
			"A deployment's environment variables take at most %d bytes together.", maxEnvTotalBytes)
	}
	return nil
}

// listEnv answers all of a deployment's variables in one call.
func (s *Sandbox) listEnv(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p, aerr := s.deploymentAuth(r, name)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	s.mu.Lock()
	s.countLocked("list_environment_variables", p.TeamSlug)
	env := maps.Clone(s.st.Env[name])
	s.mu.Unlock()
	if env == nil {
		env = map[string]string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"environmentVariables": env})
}

// dashboard is the deployment's page on the sandbox dashboard, where the
// product's external links go. It lists the variable names but never their
// values. The product frames the embeddable dashboard instead
// (dashboard_embedded.go), so this page is not framable.
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
	s.renderPage(w, http.StatusOK, dashboardPage(v))
}

// teamDashboard is a team's page: its live projects against its quota, each
// linking to its deployment's page (where the product's "Open team in
// Convex" goes).
func (s *Sandbox) teamDashboard(w http.ResponseWriter, r *http.Request) {
	team, ok := teamsBySlug[r.PathValue("team")]
	if !ok {
		s.renderPage(w, http.StatusNotFound, errorPage("Team not found", "There is no team named "+r.PathValue("team")+" in the sandbox."))
		return
	}
	v := teamDashboardView{TeamName: team.Name, TeamSlug: team.Slug, Quota: s.quotaOf(team)}
	s.mu.Lock()
	for _, p := range s.liveProjectsLocked(team.Slug) {
		v.Projects = append(v.Projects, teamDashboardProject{Name: p.Name, DeploymentName: p.DeploymentName, URL: s.base + "/dashboard/d/" + p.DeploymentName})
	}
	s.mu.Unlock()
	s.renderPage(w, http.StatusOK, teamDashboardPage(v))
}

// teamDashboardView is a team's page.
type teamDashboardView struct {
	TeamName, TeamSlug string
	Quota              int
	Projects           []teamDashboardProject
}

type teamDashboardProject struct {
	Name, DeploymentName, URL string
}
