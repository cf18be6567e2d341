package sandbox

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxProjectNameLength bounds project names the way the dashboard's form does.
const maxProjectNameLength = 128

type profileResponse struct {
	ID    any    `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

func (s *Sandbox) profile(w http.ResponseWriter, r *http.Request) {
	u, _, aerr := s.userFromBearer(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	s.mu.Lock()
	s.countLocked("profile", "")
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, profileResponse{ID: u.ProfileID, Name: u.Name, Email: u.Email})
}

type teamResponse struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Slug         string `json:"slug"`
	ReferralCode string `json:"referralCode"`
}

func (s *Sandbox) teams(w http.ResponseWriter, r *http.Request) {
	u, _, aerr := s.userFromBearer(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	s.mu.Lock()
	s.countLocked("teams", "")
	s.mu.Unlock()
	out := make([]teamResponse, 0, len(u.Teams))
	for _, slug := range u.Teams {
		t := teamsBySlug[slug]
		out = append(out, teamResponse{ID: t.ID, Name: t.Name, Slug: t.Slug, ReferralCode: t.ReferralCode})
	}
	writeJSON(w, http.StatusOK, out)
}

type createProjectRequest struct {
	Team           string `json:"team"`
	ProjectName    string `json:"projectName"`
	DeploymentType string `json:"deploymentType"`
}

func (req *createProjectRequest) validate() *apiError {
	req.ProjectName = strings.TrimSpace(req.ProjectName)
	switch {
	case req.Team == "":
		return errorf(http.StatusBadRequest, "InvalidTeam", "team is required.")
	case req.ProjectName == "":
		return errorf(http.StatusBadRequest, "InvalidProjectName", "projectName is required.")
	case !utf8.ValidString(req.ProjectName) || utf8.RuneCountInString(req.ProjectName) > maxProjectNameLength:
		return errorf(http.StatusBadRequest, "InvalidProjectName", "projectName must be at most %d characters.", maxProjectNameLength)
	case strings.IndexFunc(req.ProjectName, unicode.IsControl) >= 0:
		return errorf(http.StatusBadRequest, "InvalidProjectName", "projectName must not contain control characters.")
	case req.DeploymentType != "dev" && req.DeploymentType != "prod":
		return errorf(http.StatusBadRequest, "InvalidDeploymentType", `deploymentType must be "dev" or "prod".`)
	}
	return nil
}

type createProjectResponse struct {
	ProjectSlug       string `json:"projectSlug"`
	ProjectID         int64  `json:"projectId"`
	TeamSlug          string `json:"teamSlug"`
	DeploymentName    string `json:"deploymentName"`
	ProdURL           string `json:"prodUrl"`
	AdminKey          string `json:"adminKey"`
	ProjectsRemaining int    `json:"projectsRemaining"`
}

func (s *Sandbox) createProject(w http.ResponseWriter, r *http.Request) {
	u, _, aerr := s.userFromBearer(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	var req createProjectRequest
	if aerr := decodeJSON(w, r, maxJSONBody, &req); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	if aerr := req.validate(); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	team, aerr := memberTeam(u, req.Team)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	s.mu.Lock()
	call := s.countLocked("create_project", team.Slug)
	s.mu.Unlock()

	// Faults run outside the lock: some of them wait a long time.
	f := s.createProjectFault(r.Context(), team.Slug, call)
	switch {
	case f.gone:
		return
	case f.err != nil:
		for k, v := range f.header {
			w.Header().Set(k, v)
		}
		s.log.Debug("sandbox: failure team answered", "team", team.Slug, "call", call, "status", f.err.Status)
		s.writeError(w, r, f.err)
		return
	}

	s.mu.Lock()
	resp, err := s.createProjectLocked(team, req.ProjectName)
	s.mu.Unlock()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if f.malformed {
		// The project exists, but its answer is cut short, so the caller
		// must find it again by listing projects.
		writeRawJSON(w, http.StatusOK, truncatedCreateAnswer(resp))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// createProjectLocked creates a project with a dev deployment. The caller
// holds s.mu.
func (s *Sandbox) createProjectLocked(team Team, name string) (createProjectResponse, error) {
	live := s.liveProjectsLocked(team.Slug)
	quota := s.quotaOf(team)
	if len(live) >= quota {
		return createProjectResponse{}, errorf(http.StatusBadRequest, "ProjectQuotaReached", "Team has reached the maximum number of projects.")
	}
	p := &project{
		ID:             s.st.NextProjectID,
		Name:           name,
		Slug:           s.uniqueSlugLocked(team.Slug, slugify(name)),
		TeamSlug:       team.Slug,
		TeamID:         team.ID,
		DeploymentName: s.uniqueDeploymentNameLocked(),
		CreateTime:     time.Now().UnixMilli(),
	}
	adminKey := "dev:" + p.DeploymentName + "|" + newSecret("sbxa_")
	p.AdminKeyHash = hashSecret(adminKey)
	s.st.Projects = append(s.st.Projects, p)
	s.st.NextProjectID++
	if err := s.saveLocked(); err != nil {
		s.st.Projects = s.st.Projects[:len(s.st.Projects)-1]
		s.st.NextProjectID--
		return createProjectResponse{}, err
	}
	return createProjectResponse{
		ProjectSlug:       p.Slug,
		ProjectID:         p.ID,
		TeamSlug:          p.TeamSlug,
		DeploymentName:    p.DeploymentName,
		ProdURL:           s.base + "/d/" + p.DeploymentName,
		AdminKey:          adminKey,
		ProjectsRemaining: quota - len(live) - 1,
	}, nil
}

// uniqueSlugLocked suffixes -2, -3… until no live project of the team has
// the slug, since the slug is half of the deploy key.
func (s *Sandbox) uniqueSlugLocked(team, base string) string {
	taken := map[string]bool{}
	for _, p := range s.liveProjectsLocked(team) {
		taken[p.Slug] = true
	}
	slug := base
	for n := 2; taken[slug]; n++ {
		slug = base + "-" + strconv.Itoa(n)
	}
	return slug
}

// uniqueDeploymentNameLocked never reuses a name, not even a deleted
// project's, so an old deployment URL cannot reach a new project.
func (s *Sandbox) uniqueDeploymentNameLocked() string {
	taken := map[string]bool{}
	for _, p := range s.st.Projects {
		taken[p.DeploymentName] = true
	}
	for {
		name := deploymentName()
		if !taken[name] {
			return name
		}
		// 400,000 names; past a crowd, widen the number rather than spin.
		if len(taken) > 100_000 {
			return name + "-" + strconv.FormatInt(s.st.NextProjectID, 10)
		}
	}
}

type authorizeProjectRequest struct {
	AuthnToken string `json:"authn_token"`
	ProjectID  int64  `json:"projectId"`
	OAuthApp   struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	} `json:"oauthApp"`
}

func (s *Sandbox) authorizeProject(w http.ResponseWriter, r *http.Request) {
	u, bearer, aerr := s.userFromBearer(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	var req authorizeProjectRequest
	if aerr := decodeJSON(w, r, maxJSONBody, &req); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	if req.ProjectID <= 0 {
		s.writeError(w, r, errorf(http.StatusBadRequest, "InvalidProjectId", "projectId is required."))
		return
	}
	if !secretEqual(req.AuthnToken, bearer) {
		s.writeError(w, r, errorf(http.StatusUnauthorized, "Unauthenticated", "authn_token does not match the access token."))
		return
	}
	if !s.clientValid(req.OAuthApp.ClientID, req.OAuthApp.ClientSecret) {
		s.writeError(w, r, errorf(http.StatusUnauthorized, "InvalidOAuthApplication", "Unknown OAuth application or wrong secret."))
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectByIDLocked(req.ProjectID)
	if p == nil || !u.isMember(p.TeamSlug) {
		s.writeError(w, r, errProjectNotFound)
		return
	}
	s.countLocked("authorize", p.TeamSlug)
	if aerr := authorizeFault(p.TeamSlug); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	token := newSecret("sbxd_")
	p.DeployTokenHashes = append(p.DeployTokenHashes, hashSecret(token))
	if err := s.saveLocked(); err != nil {
		p.DeployTokenHashes = p.DeployTokenHashes[:len(p.DeployTokenHashes)-1]
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"accessToken": token})
}

// clientValid checks an OAuth application's credentials.
func (s *Sandbox) clientValid(id, secret string) bool {
	want, ok := s.opts.Clients[id]
	return ok && id != "" && secretEqual(secret, want)
}

type projectResponse struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	Slug       string `json:"slug"`
	TeamID     int64  `json:"teamId"`
	CreateTime int64  `json:"createTime"`
}

func (s *Sandbox) listProjects(w http.ResponseWriter, r *http.Request) {
	u, _, aerr := s.userFromBearer(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	team, aerr := memberTeam(u, r.PathValue("teamSlug"))
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	s.mu.Lock()
	s.countLocked("list_projects", team.Slug)
	out := []projectResponse{}
	for _, p := range s.liveProjectsLocked(team.Slug) {
		out = append(out, projectResponse{ID: p.ID, Name: p.Name, Slug: p.Slug, TeamID: p.TeamID, CreateTime: p.CreateTime})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Sandbox) deleteProject(w http.ResponseWriter, r *http.Request) {
	u, _, aerr := s.userFromBearer(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("projectId"), 10, 64)
	if err != nil || id <= 0 {
		s.writeError(w, r, errorf(http.StatusBadRequest, "InvalidProjectId", "projectId must be a positive number."))
		return
	}
	s.mu.Lock()
	p := s.projectByIDLocked(id)
	if p == nil || !u.isMember(p.TeamSlug) {
		s.mu.Unlock()
		s.writeError(w, r, errProjectNotFound)
		return
	}
	s.countLocked("delete_project", p.TeamSlug)
	err = s.deleteProjectLocked(p)
	s.mu.Unlock()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// deleteProjectLocked deletes a project and its deployment: keys,
// variables and site go. Both APIs delete through it.
func (s *Sandbox) deleteProjectLocked(p *project) error {
	p.DeleteTime = time.Now().UnixMilli()
	p.DeployTokenHashes = nil
	p.DeployKeys = nil
	p.Site = nil
	delete(s.st.Env, p.DeploymentName)
	delete(s.bundles, p.DeploymentName)
	if err := s.saveLocked(); err != nil {
		return err
	}
	if s.opts.StateDir != "" {
		_ = removeIfExists(s.bundlePath(p.DeploymentName))
	}
	return nil
}

type tokenInfoResponse struct {
	CentitokensUsed  int64 `json:"centitokensUsed"`
	CentitokensQuota int64 `json:"centitokensQuota"`
	IsTeamDisabled   bool  `json:"isTeamDisabled"`
	IsPaidPlan       bool  `json:"isPaidPlan"`
}

func (s *Sandbox) tokenInfo(w http.ResponseWriter, r *http.Request) {
	u, _, aerr := s.userFromBearer(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	team, aerr := memberTeam(u, r.PathValue("teamSlug"))
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	s.mu.Lock()
	s.countLocked("get_token_info", team.Slug)
	used := team.CentitokensUsed + s.st.CentitokensUsed[team.Slug]
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tokenInfoResponse{
		CentitokensUsed:  used,
		CentitokensQuota: team.CentitokensQuota,
		IsTeamDisabled:   team.Disabled,
		IsPaidPlan:       team.PaidPlan,
	})
}

// maxRecordedCentitokens bounds one record_tokens call so sums cannot overflow.
const maxRecordedCentitokens = 1 << 40

func (s *Sandbox) recordTokens(w http.ResponseWriter, r *http.Request) {
	u, _, aerr := s.userFromBearer(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	var req struct {
		Centitokens *int64 `json:"centitokens"` // a string or fraction fails to decode
	}
	if aerr := decodeJSON(w, r, maxJSONBody, &req); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	if req.Centitokens == nil || *req.Centitokens < 0 || *req.Centitokens > maxRecordedCentitokens {
		s.writeError(w, r, errorf(http.StatusBadRequest, "InvalidCentitokens", "centitokens must be a whole number from 0 to %d.", int64(maxRecordedCentitokens)))
		return
	}
	team, aerr := memberTeam(u, r.PathValue("teamSlug"))
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	s.mu.Lock()
	s.countLocked("record_tokens", team.Slug)
	s.st.CentitokensUsed[team.Slug] += *req.Centitokens
	used := team.CentitokensUsed + s.st.CentitokensUsed[team.Slug]
	err := s.saveLocked()
	s.mu.Unlock()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"centitokensUsed": used, "centitokensQuota": team.CentitokensQuota})
}
