package sandbox

import (
	"cmp"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The public Management API v1 (CONTRACT §2.1). Every call carries a team
// token from the team consent flow, and a token covers exactly one team:
// another team's id answers 403, another team's project or deployment
// answers 404 like one that does not exist.

const (
	// defaultPageSize and maxPageSize bound a page of the project listing.
	defaultPageSize = 100
	maxPageSize     = 100
	// maxDeployKeyNameBytes bounds a deploy key's name.
	maxDeployKeyNameBytes = 256
	// deployKeysPerDeployment bounds how many keys one deployment keeps.
	deployKeysPerDeployment = 1000
)

var (
	errWrongTeam          = &apiError{Status: http.StatusForbidden, Code: "Forbidden", Message: "The token does not grant access to this team."}
	errDeploymentNotFound = &apiError{Status: http.StatusNotFound, Code: "DeploymentNotFound", Message: "Deployment not found."}
)

// teamGrant is what a team token grants, resolved for one request.
type teamGrant struct {
	token teamToken
	team  Team
}

// grantFromBearer resolves the team token the request carries. An unknown
// or revoked token, or one whose person has left the team, answers 401.
func (s *Sandbox) grantFromBearer(r *http.Request) (teamGrant, *apiError) {
	token, ok := credential(r, "Bearer")
	if !ok {
		return teamGrant{}, errUnauthenticated
	}
	s.mu.Lock()
	t := s.st.TeamTokens[hashSecret(token)]
	var tok teamToken
	if t != nil {
		tok = *t
	}
	s.mu.Unlock()
	team, known := teamsBySlug[tok.TeamSlug]
	if t == nil || !known || !usersByKey[tok.UserKey].isMember(tok.TeamSlug) {
		return teamGrant{}, errUnauthenticated
	}
	return teamGrant{token: tok, team: team}, nil
}

// grantTeam checks the {teamId} of the path against the token's team.
func grantTeam(g teamGrant, raw string) *apiError {
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 0 {
		return errorf(http.StatusBadRequest, "InvalidTeamId", "teamId must be a number.")
	}
	if id != g.team.ID {
		return errWrongTeam
	}
	return nil
}

// grantProjectLocked finds a live project of the token's team.
func (s *Sandbox) grantProjectLocked(g teamGrant, id int64) *project {
	p := s.projectByIDLocked(id)
	if p == nil || p.TeamSlug != g.team.Slug {
		return nil
	}
	return p
}

// grantDeploymentLocked finds the live project of a deployment of the
// token's team.
func (s *Sandbox) grantDeploymentLocked(g teamGrant, name string) *project {
	p := s.projectByDeploymentLocked(name)
	if p == nil || p.TeamSlug != g.team.Slug {
		return nil
	}
	return p
}

type tokenDetailsResponse struct {
	Type       string `json:"type"`
	ID         int64  `json:"id"`
	TeamID     int64  `json:"teamId"`
	Name       string `json:"name"`
	CreateTime int64  `json:"createTime"`
}

func (s *Sandbox) tokenDetails(w http.ResponseWriter, r *http.Request) {
	g, aerr := s.grantFromBearer(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	s.mu.Lock()
	s.countLocked("token_details", g.team.Slug)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tokenDetailsResponse{
		Type: "teamToken", ID: g.token.ID, TeamID: g.team.ID, Name: g.token.Name, CreateTime: g.token.CreateTime,
	})
}

type platformCreateResponse struct {
	ID             int64  `json:"id"`
	ProjectID      int64  `json:"projectId"`
	Slug           string `json:"slug"`
	DeploymentName string `json:"deploymentName"`
	DeploymentURL  string `json:"deploymentUrl"`
}

// platformCreateProject is create_project of the Management API. The
// failure teams fail it exactly as they fail the provision host's.
func (s *Sandbox) platformCreateProject(w http.ResponseWriter, r *http.Request) {
	g, aerr := s.grantFromBearer(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	if aerr := grantTeam(g, r.PathValue("teamId")); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	var req createProjectRequest
	if aerr := decodeJSON(w, r, maxJSONBody, &req); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	req.Team = g.team.Slug // the path names the team; a "team" field is ignored
	if aerr := req.validate(); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	s.mu.Lock()
	call := s.countLocked("create_project", g.team.Slug)
	s.mu.Unlock()

	f := s.createProjectFault(r.Context(), g.team.Slug, call)
	switch {
	case f.gone:
		return
	case f.err != nil:
		for k, v := range f.header {
			w.Header().Set(k, v)
		}
		s.writeError(w, r, f.err)
		return
	}

	s.mu.Lock()
	created, err := s.createProjectLocked(g.team, req.ProjectName)
	s.mu.Unlock()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := platformCreateResponse{
		ID:             created.ProjectID,
		ProjectID:      created.ProjectID,
		Slug:           created.ProjectSlug,
		DeploymentName: created.DeploymentName,
		DeploymentURL:  created.ProdURL,
	}
	if f.malformed {
		writeRawJSON(w, http.StatusOK, truncatedPlatformCreateAnswer(resp))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

type platformProject struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	Slug       string `json:"slug"`
	TeamID     int64  `json:"teamId"`
	TeamSlug   string `json:"teamSlug"`
	CreateTime int64  `json:"createTime"`
}

type pagination struct {
	HasMore    bool   `json:"hasMore"`
	NextCursor string `json:"nextCursor,omitempty"`
}

type projectPage struct {
	Items      []platformProject `json:"items"`
	Pagination pagination        `json:"pagination"`
}

// platformListProjects pages through a team's live projects, newest first.
// A cursor names the last project of the previous page, so projects created
// or deleted between pages neither repeat nor shift the rest.
func (s *Sandbox) platformListProjects(w http.ResponseWriter, r *http.Request) {
	g, aerr := s.grantFromBearer(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	if aerr := grantTeam(g, r.PathValue("teamId")); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	q := r.URL.Query()
	limit := defaultPageSize
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			s.writeError(w, r, errorf(http.StatusBadRequest, "InvalidLimit", "limit must be a whole number from 1 to %d.", maxPageSize))
			return
		}
		limit = min(n, maxPageSize)
	}
	before := int64(-1) // no cursor: from the newest
	if raw := q.Get("cursor"); raw != "" {
		id, ok := parseProjectCursor(raw)
		if !ok {
			s.writeError(w, r, errorf(http.StatusBadRequest, "InvalidCursor", "cursor is not one this API gave."))
			return
		}
		before = id
	}

	s.mu.Lock()
	s.countLocked("list_projects", g.team.Slug)
	live := s.liveProjectsLocked(g.team.Slug)
	s.mu.Unlock()
	slices.SortFunc(live, func(a, b *project) int { return cmp.Compare(b.ID, a.ID) })
	page := projectPage{Items: []platformProject{}}
	for _, p := range live {
		if before >= 0 && p.ID >= before {
			continue
		}
		if len(page.Items) == limit {
			page.Pagination = pagination{HasMore: true, NextCursor: projectCursor(page.Items[limit-1].ID)}
			break
		}
		page.Items = append(page.Items, platformProject{
			ID: p.ID, Name: p.Name, Slug: p.Slug, TeamID: p.TeamID, TeamSlug: p.TeamSlug, CreateTime: p.CreateTime,
		})
	}
	writeJSON(w, http.StatusOK, page)
}

// projectCursor is opaque to callers: they send it back unchanged.
func projectCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("before:" + strconv.FormatInt(id, 10)))
}

func parseProjectCursor(raw string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return 0, false
	}
	rest, ok := strings.CutPrefix(string(b), "before:")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}

// platformDeleteProject deletes a project and its deployment.
func (s *Sandbox) platformDeleteProject(w http.ResponseWriter, r *http.Request) {
	g, aerr := s.grantFromBearer(r)
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
	p := s.grantProjectLocked(g, id)
	if p == nil {
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
	writeEmpty(w)
}

type deployKeyRequest struct {
	Name string `json:"name"`
}

func (req deployKeyRequest) validate() *apiError {
	switch {
	case strings.TrimSpace(req.Name) == "":
		return errorf(http.StatusBadRequest, "InvalidDeployKeyName", "name is required.")
	case len(req.Name) > maxDeployKeyNameBytes:
		return errorf(http.StatusBadRequest, "InvalidDeployKeyName", "name must be at most %d bytes.", maxDeployKeyNameBytes)
	case !utf8.ValidString(req.Name) || strings.IndexFunc(req.Name, unicode.IsControl) >= 0:
		return errorf(http.StatusBadRequest, "InvalidDeployKeyName", "name must be text without control characters.")
	}
	return nil
}

// createDeployKey makes a key for the deployment, "dev:{name}|…", that
// opens its /api/v1 routes until delete_deploy_key removes it.
func (s *Sandbox) createDeployKey(w http.ResponseWriter, r *http.Request) {
	g, aerr := s.grantFromBearer(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	var req deployKeyRequest
	if aerr := decodeJSON(w, r, maxJSONBody, &req); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	if aerr := req.validate(); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.grantDeploymentLocked(g, r.PathValue("deploymentName"))
	if p == nil {
		s.writeError(w, r, errDeploymentNotFound)
		return
	}
	s.countLocked("create_deploy_key", p.TeamSlug)
	if aerr := authorizeFault(p.TeamSlug); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	if len(p.DeployKeys) >= deployKeysPerDeployment {
		s.writeError(w, r, errorf(http.StatusBadRequest, "TooManyDeployKeys", "A deployment has at most %d deploy keys.", deployKeysPerDeployment))
		return
	}
	key := "dev:" + p.DeploymentName + "|" + newSecret("sbxk_")
	p.DeployKeys = append(p.DeployKeys, &namedDeployKey{
		ID:           s.st.NextDeployKeyID,
		Name:         req.Name,
		CreationTime: time.Now().UnixMilli(),
		Hash:         hashSecret(key),
	})
	s.st.NextDeployKeyID++
	if err := s.saveLocked(); err != nil {
		p.DeployKeys = p.DeployKeys[:len(p.DeployKeys)-1]
		s.st.NextDeployKeyID--
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"deployKey": key})
}

// deleteDeployKey deletes the deployment's keys with the given name (the
// "id" field, a string, is the key's name). Every key of that name goes.
func (s *Sandbox) deleteDeployKey(w http.ResponseWriter, r *http.Request) {
	g, aerr := s.grantFromBearer(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	var req struct {
		ID string `json:"id"`
	}
	if aerr := decodeJSON(w, r, maxJSONBody, &req); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	if req.ID == "" {
		s.writeError(w, r, errorf(http.StatusBadRequest, "InvalidDeployKeyName", "id (the deploy key's name) is required."))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.grantDeploymentLocked(g, r.PathValue("deploymentName"))
	if p == nil {
		s.writeError(w, r, errDeploymentNotFound)
		return
	}
	s.countLocked("delete_deploy_key", p.TeamSlug)
	before := p.DeployKeys
	kept := slices.DeleteFunc(slices.Clone(before), func(k *namedDeployKey) bool { return k.Name == req.ID })
	if len(kept) == len(before) {
		s.writeError(w, r, errorf(http.StatusNotFound, "DeployKeyNotFound", "The deployment has no deploy key with that name."))
		return
	}
	p.DeployKeys = kept
	if err := s.saveLocked(); err != nil {
		p.DeployKeys = before
		s.writeError(w, r, err)
		return
	}
	writeEmpty(w)
}

type deployKeyListItem struct {
	ID             int64    `json:"id"`
	Name           string   `json:"name"`
	CreationTime   int64    `json:"creationTime"`
	AllowedActions []string `json:"allowedActions"`
}

// listDeployKeys lists the deployment's keys, oldest first, never a secret.
func (s *Sandbox) listDeployKeys(w http.ResponseWriter, r *http.Request) {
	g, aerr := s.grantFromBearer(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	s.mu.Lock()
	p := s.grantDeploymentLocked(g, r.PathValue("deploymentName"))
	if p == nil {
		s.mu.Unlock()
		s.writeError(w, r, errDeploymentNotFound)
		return
	}
	s.countLocked("list_deploy_keys", p.TeamSlug)
	out := make([]deployKeyListItem, 0, len(p.DeployKeys))
	for _, k := range p.DeployKeys {
		// The sandbox's keys are unrestricted: no action list narrows them.
		out = append(out, deployKeyListItem{ID: k.ID, Name: k.Name, CreationTime: k.CreationTime, AllowedActions: []string{}})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// writeEmpty is the Management API's empty 200.
func writeEmpty(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
