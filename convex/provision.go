package convex

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Profile is the signed-in Convex user.
type Profile struct {
	ID          string // the "id" as sent: a number keeps its decimal text
	Name, Email string
}

// Team is a provision-host team the user belongs to.
type Team struct {
	ID                       int64
	Name, Slug, ReferralCode string
}

// CreatedProject is create_project's answer. AdminKey is a secret: keep it
// only if needed, and then encrypted.
type CreatedProject struct {
	ProjectSlug                                 string
	ProjectID                                   int64
	TeamSlug, DeploymentName, ProdURL, AdminKey string
	ProjectsRemaining                           int
}

// Project is one entry of a team's project list.
type Project struct {
	ID         int64
	Name, Slug string
	TeamID     int64
	TeamSlug   string // sent by the Management API only; empty from the provision host
	CreateTime time.Time
}

// TokenInfo is a team's token usage and plan.
type TokenInfo struct {
	CentitokensUsed, CentitokensQuota int64
	IsTeamDisabled, IsPaidPlan        bool
}

// TokenUsage is a team's usage after recording tokens.
type TokenUsage struct {
	CentitokensUsed, CentitokensQuota int64
}

// OAuthApp is our OAuth application, which authorize binds the access token to.
type OAuthApp struct {
	ClientID, ClientSecret string
}

// DeployKey builds the secret that lets us act on a project.
func DeployKey(teamSlug, projectSlug, accessToken string) string {
	return "project:" + teamSlug + ":" + projectSlug + "|" + accessToken
}

// Profile fetches the user behind userToken.
func (c *Client) Profile(ctx context.Context, userToken string) (Profile, error) {
	const op = "profile"
	var raw struct {
		ID    json.RawMessage `json:"id"`
		Name  string          `json:"name"`
		Email string          `json:"email"`
	}
	status, err := c.getJSON(ctx, op, "/api/dashboard/profile", userToken, &raw)
	if err != nil {
		return Profile{}, err
	}
	// The id is who the user is; a profile without one is unusable.
	id, err := idText(raw.ID)
	if err != nil {
		return Profile{}, invalid(op, status, err.Error())
	}
	return Profile{ID: id, Name: raw.Name, Email: raw.Email}, nil
}

// idText keeps a JSON string or number id as text; big numbers stay exact.
func idText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", fmt.Errorf("missing id")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s == "" {
			return "", fmt.Errorf("bad id")
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("id is neither a string nor a number")
	}
	return n.String(), nil
}

// Teams lists the user's teams.
func (c *Client) Teams(ctx context.Context, userToken string) ([]Team, error) {
	var raw []struct {
		ID           int64  `json:"id"`
		Name         string `json:"name"`
		Slug         string `json:"slug"`
		ReferralCode string `json:"referralCode"`
	}
	if _, err := c.getJSON(ctx, "teams", "/api/dashboard/teams", userToken, &raw); err != nil {
		return nil, err
	}
	teams := make([]Team, 0, len(raw))
	for _, t := range raw {
		teams = append(teams, Team{ID: t.ID, Name: t.Name, Slug: t.Slug, ReferralCode: t.ReferralCode})
	}
	return teams, nil
}

// CreateProject creates a project with a dev deployment on teamSlug. On
// success the project counts against the team's quota whatever happens next.
func (c *Client) CreateProject(ctx context.Context, userToken, teamSlug, projectName string) (CreatedProject, error) {
	const op = "create_project"
	if teamSlug == "" || projectName == "" {
		return CreatedProject{}, badArg(op, "team and project name are required")
	}
	req := map[string]string{"team": teamSlug, "projectName": projectName, "deploymentType": "dev"}
	var raw struct {
		ProjectSlug       string `json:"projectSlug"`
		ProjectID         int64  `json:"projectId"`
		TeamSlug          string `json:"teamSlug"`
		DeploymentName    string `json:"deploymentName"`
		ProdURL           string `json:"prodUrl"`
		AdminKey          string `json:"adminKey"`
		ProjectsRemaining int    `json:"projectsRemaining"`
	}
	status, err := c.postJSON(ctx, op, c.endpoint("/api/create_project"), bearer(userToken), req, &raw, secretsOf(userToken))
	if err != nil {
		return CreatedProject{}, err
	}
	// Without these the project cannot be reached; a 200 lacking them is as
	// unusable as malformed JSON.
	switch {
	case raw.ProjectSlug == "":
		return CreatedProject{}, invalid(op, status, "missing projectSlug")
	case raw.ProjectID == 0:
		return CreatedProject{}, invalid(op, status, "missing projectId")
	case raw.DeploymentName == "":
		return CreatedProject{}, invalid(op, status, "missing deploymentName")
	case raw.ProdURL == "":
		return CreatedProject{}, invalid(op, status, "missing prodUrl")
	}
	if raw.TeamSlug == "" {
		raw.TeamSlug = teamSlug
	}
	return CreatedProject(raw), nil
}

// Authorize exchanges the user's token for a project access token bound to
// app; DeployKey turns it into the deploy key.
func (c *Client) Authorize(ctx context.Context, userToken string, projectID int64, app OAuthApp) (string, error) {
	const op = "authorize"
	type oauthApp struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	req := struct {
		AuthnToken string   `json:"authn_token"`
		ProjectID  int64    `json:"projectId"`
		OAuthApp   oauthApp `json:"oauthApp"`
	}{userToken, projectID, oauthApp(app)}
	var raw struct {
		AccessToken string `json:"accessToken"`
	}
	status, err := c.postJSON(ctx, op, c.endpoint("/api/dashboard/authorize"), bearer(userToken), req, &raw, secretsOf(userToken, app.ClientSecret))
	if err != nil {
		return "", err
	}
	if raw.AccessToken == "" {
		return "", invalid(op, status, "missing accessToken")
	}
	return raw.AccessToken, nil
}

// ListProjects lists teamSlug's projects; it finds a project whose creation
// was recorded but whose answer was lost.
func (c *Client) ListProjects(ctx context.Context, userToken, teamSlug string) ([]Project, error) {
	const op = "list_projects"
	if teamSlug == "" {
		return nil, badArg(op, "team is required")
	}
	var raw []struct {
		ID         int64       `json:"id"`
		Name       string      `json:"name"`
		Slug       string      `json:"slug"`
		TeamID     int64       `json:"teamId"`
		CreateTime json.Number `json:"createTime"`
	}
	status, err := c.getJSON(ctx, op, "/api/teams/"+url.PathEscape(teamSlug)+"/projects", userToken, &raw)
	if err != nil {
		return nil, err
	}
	projects := make([]Project, 0, len(raw))
	for _, p := range raw {
		created, err := millis(p.CreateTime)
		if err != nil {
			return nil, invalid(op, status, "bad createTime")
		}
		projects = append(projects, Project{ID: p.ID, Name: p.Name, Slug: p.Slug, TeamID: p.TeamID, CreateTime: created})
	}
	return projects, nil
}

// millis reads milliseconds since the epoch, integral or not; absent is zero.
func millis(n json.Number) (time.Time, error) {
	if n == "" {
		return time.Time{}, nil
	}
	if ms, err := n.Int64(); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(f)).UTC(), nil
}

// DeleteProject deletes a project and its deployments.
func (c *Client) DeleteProject(ctx context.Context, userToken string, projectID int64) error {
	const op = "delete_project"
	k, _ := jsonCall(op, http.MethodPost, c.endpoint("/api/dashboard/delete_project/"+strconv.FormatInt(projectID, 10)), bearer(userToken), nil, secretsOf(userToken))
	// The answer is "{}"; the status alone says the project is gone, so the
	// body is only size-checked.
	_, err := c.do(ctx, k)
	return err
}

// TokenInfo reads teamSlug's token usage and plan.
func (c *Client) TokenInfo(ctx context.Context, userToken, teamSlug string) (TokenInfo, error) {
	const op = "get_token_info"
	if teamSlug == "" {
		return TokenInfo{}, badArg(op, "team is required")
	}
	var raw struct {
		CentitokensUsed  int64 `json:"centitokensUsed"`
		CentitokensQuota int64 `json:"centitokensQuota"`
		IsTeamDisabled   bool  `json:"isTeamDisabled"`
		IsPaidPlan       bool  `json:"isPaidPlan"`
	}
	if _, err := c.getJSON(ctx, op, "/api/dashboard/teams/"+url.PathEscape(teamSlug)+"/usage/get_token_info", userToken, &raw); err != nil {
		return TokenInfo{}, err
	}
	return TokenInfo(raw), nil
}

// RecordTokens adds centitokens to teamSlug's usage.
func (c *Client) RecordTokens(ctx context.Context, userToken, teamSlug string, centitokens int64) (TokenUsage, error) {
	const op = "record_tokens"
	if teamSlug == "" {
		return TokenUsage{}, badArg(op, "team is required")
	}
	req := struct {
		Centitokens int64 `json:"centitokens"`
	}{centitokens}
	var raw struct {
		CentitokensUsed  int64 `json:"centitokensUsed"`
		CentitokensQuota int64 `json:"centitokensQuota"`
	}
	u := c.endpoint("/api/dashboard/teams/" + url.PathEscape(teamSlug) + "/usage/record_tokens")
	if _, err := c.postJSON(ctx, op, u, bearer(userToken), req, &raw, secretsOf(userToken)); err != nil {
		return TokenUsage{}, err
	}
	return TokenUsage(raw), nil
}

// getJSON sends an authenticated GET to the provision host and decodes the
// answer into v, returning the answer's status.
func (c *Client) getJSON(ctx context.Context, op, path, userToken string, v any) (int, error) {
	k, _ := jsonCall(op, http.MethodGet, c.endpoint(path), bearer(userToken), nil, secretsOf(userToken))
	ans, err := c.do(ctx, k)
	if err != nil {
		return 0, err
	}
	return ans.status, decode(op, ans, v)
}

// postJSON sends body as JSON to u and decodes the answer into v.
func (c *Client) postJSON(ctx context.Context, op, u, auth string, body, v any, secrets []string) (int, error) {
	k, err := jsonCall(op, http.MethodPost, u, auth, body, secrets)
	if err != nil {
		return 0, err
	}
	ans, err := c.do(ctx, k)
	if err != nil {
		return 0, err
	}
	return ans.status, decode(op, ans, v)
}

// decode unmarshals a success body; unknown fields are ignored by design. A
// "null" or empty body would silently leave v zero, so it is refused.
func decode(op string, ans answer, v any) error {
	if b := bytes.TrimSpace(ans.body); len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return invalid(op, ans.status, "empty answer")
	}
	if err := json.Unmarshal(ans.body, v); err != nil {
		return &Error{Op: op, Status: ans.status, Err: fmt.Errorf("%w: %w", ErrInvalidResponse, err)}
	}
	return nil
}

func invalid(op string, status int, why string) *Error {
	return &Error{Op: op, Status: status, Err: fmt.Errorf("%w: %s", ErrInvalidResponse, why)}
}

func badArg(op, why string) *Error {
	return &Error{Op: op, Err: fmt.Errorf("%w: %s", errInvalidRequest, why)}
}

// refused is a request refused before calling because it breaks a rule the
// user can fix; the rule is the user's message.
func refused(op, rule string) *Error {
	return &Error{Op: op, Message: rule, Err: errInvalidRequest}
}
