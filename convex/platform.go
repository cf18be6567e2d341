package convex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Bounds of a Platform's paged project list. A team with more projects than
// this is not listed at all (ErrListTooLong) rather than listed in part.
const (
	projectsPageSize  = 100
	MaxProjectPages   = 50
	MaxListedProjects = MaxProjectPages * projectsPageSize
)

// Platform is the client of Convex's public Management API v1 (CONTRACT
// §2.1), used in CONVEX_API=platform mode. Every call is made with one
// grant's team token. It shares a Client's transport, body bounds, retries
// and redaction, and its errors are *Error values that UserMessage turns into
// §2.1's sentences. It is safe for concurrent use.
type Platform struct {
	c        *Client
	pageSize int
	maxPages int
	maxItems int
}

// NewPlatform returns a Platform for opts. opts.BaseURL is CONVEX_API_URL
// (e.g. "https://api.convex.dev"); the calls go to {BaseURL}/v1.
// opts.DeploySecret is not used: hosting is not part of this API.
func NewPlatform(opts Options) *Platform {
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/") + "/v1"
	opts.DeploySecret = ""
	return &Platform{c: New(opts), pageSize: projectsPageSize, maxPages: MaxProjectPages, maxItems: MaxListedProjects}
}

// WithPageSize returns a copy of p that lists projects n to a page (1 to
// 100), reading as many more pages as keeps MaxListedProjects the bound.
// Production keeps the default of 100; tests use it to list several pages.
func (p *Platform) WithPageSize(n int) *Platform {
	n = min(max(n, 1), projectsPageSize)
	q := *p
	q.pageSize = n
	q.maxPages = (q.maxItems + n - 1) / n
	return &q
}

// TokenDetails describes a team token: the team it covers, and the name and
// time it was given.
type TokenDetails struct {
	ID, TeamID int64
	Name       string
	CreateTime time.Time
}

// PlatformProject is create_project's answer on the Management API.
type PlatformProject struct {
	ID                            int64
	Slug                          string // empty from servers that do not send it
	DeploymentName, DeploymentURL string
}

// DeployKeyInfo is one deploy key of a deployment, without its secret.
type DeployKeyInfo struct {
	ID             int64
	Name           string
	CreationTime   time.Time
	AllowedActions []string
}

// TeamSlugFromToken returns the slug in a team token's "team:{slug}|" prefix,
// or "" when the token has none or the slug is not slug-like.
func TeamSlugFromToken(token string) string {
	rest, ok := strings.CutPrefix(token, "team:")
	if !ok {
		return ""
	}
	slug, _, ok := strings.Cut(rest, "|")
	if !ok || !isSlug(slug) {
		return ""
	}
	return slug
}

// isSlug accepts what a team slug looks like; the slug is shown to users, so
// a token cannot put arbitrary text into a message.
func isSlug(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// DeployKeyName names the deploy key an app's connection attempt creates,
// so that it can be found and deleted by name (CONTRACT §2.1).
func DeployKeyName(appID string, attempt int) string {
	return "chefdeploy-" + appID + "-" + strconv.Itoa(attempt)
}

// TokenDetails reads which team teamToken covers.
func (p *Platform) TokenDetails(ctx context.Context, teamToken string) (_ TokenDetails, err error) {
	const op = "token_details"
	defer markPlatform(&err, teamToken)
	if err := checkToken(op, teamToken); err != nil {
		return TokenDetails{}, err
	}
	var raw struct {
		Type       string      `json:"type"`
		ID         int64       `json:"id"`
		TeamID     int64       `json:"teamId"`
		Name       string      `json:"name"`
		CreateTime json.Number `json:"createTime"`
	}
	status, err := p.c.getJSON(ctx, op, "/token_details", teamToken, &raw)
	if err != nil {
		return TokenDetails{}, err
	}
	// A project token (or anything else) has no team to hold a grant for.
	if raw.Type != "" && raw.Type != "teamToken" {
		return TokenDetails{}, invalid(op, status, "not a team token")
	}
	if raw.TeamID <= 0 {
		return TokenDetails{}, invalid(op, status, "missing teamId")
	}
	created, err := millis(raw.CreateTime)
	if err != nil {
		return TokenDetails{}, invalid(op, status, "bad createTime")
	}
	return TokenDetails{ID: raw.ID, TeamID: raw.TeamID, Name: raw.Name, CreateTime: created}, nil
}

// CreateProject creates a project named name with a dev deployment on team
// teamID. On success the project exists whatever happens next.
func (p *Platform) CreateProject(ctx context.Context, teamToken string, teamID int64, name string) (_ PlatformProject, err error) {
	const op = "create_project"
	defer markPlatform(&err, teamToken)
	if err := checkTeam(op, teamToken, teamID); err != nil {
		return PlatformProject{}, err
	}
	if name == "" {
		return PlatformProject{}, badArg(op, "project name is required")
	}
	req := struct {
		ProjectName    string `json:"projectName"`
		DeploymentType string `json:"deploymentType"`
	}{name, "dev"}
	var raw struct {
		ID             int64  `json:"id"`
		ProjectID      int64  `json:"projectId"`
		Slug           string `json:"slug"`
		DeploymentName string `json:"deploymentName"`
		DeploymentURL  string `json:"deploymentUrl"`
	}
	u := p.c.endpoint("/teams/" + strconv.FormatInt(teamID, 10) + "/create_project")
	status, err := p.c.postJSON(ctx, op, u, bearer(teamToken), req, &raw, secretsOf(teamToken))
	if err != nil {
		return PlatformProject{}, err
	}
	id := raw.ID
	if id == 0 {
		id = raw.ProjectID // older servers send only projectId
	}
	// Without these the project can be neither reached nor deleted later.
	switch {
	case id <= 0:
		return PlatformProject{}, invalid(op, status, "missing id")
	case raw.DeploymentName == "":
		return PlatformProject{}, invalid(op, status, "missing deploymentName")
	case raw.DeploymentURL == "":
		return PlatformProject{}, invalid(op, status, "missing deploymentUrl")
	}
	// The deploy key will be sent there; refuse now what env setup would.
	if _, err := deploymentEndpoint(op, raw.DeploymentURL, ""); err != nil {
		return PlatformProject{}, invalid(op, status, "deploymentUrl is not a plain http(s) URL")
	}
	return PlatformProject{ID: id, Slug: raw.Slug, DeploymentName: raw.DeploymentName, DeploymentURL: raw.DeploymentURL}, nil
}

// ListProjects lists all of team teamID's projects, newest first as Convex
// sends them, reading page after page until hasMore is false. It reads at
// most MaxProjectPages pages and MaxListedProjects projects; a longer list
// is an error wrapping ErrListTooLong, never a partial answer.
func (p *Platform) ListProjects(ctx context.Context, teamToken string, teamID int64) (_ []Project, err error) {
	const op = "list_projects"
	defer markPlatform(&err, teamToken)
	if err := checkTeam(op, teamToken, teamID); err != nil {
		return nil, err
	}
	base := "/teams/" + strconv.FormatInt(teamID, 10) + "/projects?"
	var projects []Project
	cursor := ""
	for page := 1; ; page++ {
		if page > p.maxPages {
			return nil, tooLong(op, fmt.Sprintf("more than %d pages", p.maxPages))
		}
		// The first page is asked for without a cursor; later ones send the
		// server's nextCursor back as it came (url.Values only escapes it).
		q := url.Values{"limit": {strconv.Itoa(p.pageSize)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var raw struct {
			Items []struct {
				ID         int64       `json:"id"`
				Name       string      `json:"name"`
				Slug       string      `json:"slug"`
				TeamID     int64       `json:"teamId"`
				TeamSlug   string      `json:"teamSlug"`
				CreateTime json.Number `json:"createTime"`
			} `json:"items"`
			Pagination *struct {
				HasMore    bool   `json:"hasMore"`
				NextCursor string `json:"nextCursor"`
			} `json:"pagination"`
		}
		status, err := p.c.getJSON(ctx, op, base+q.Encode(), teamToken, &raw)
		if err != nil {
			return nil, err
		}
		switch {
		case raw.Items == nil:
			return nil, invalid(op, status, "missing items")
		case raw.Pagination == nil:
			return nil, invalid(op, status, "missing pagination")
		case len(projects)+len(raw.Items) > p.maxItems:
			return nil, tooLong(op, fmt.Sprintf("more than %d projects", p.maxItems))
		}
		for _, it := range raw.Items {
			created, err := millis(it.CreateTime)
			if err != nil {
				return nil, invalid(op, status, "bad createTime")
			}
			projects = append(projects, Project{ID: it.ID, Name: it.Name, Slug: it.Slug, TeamID: it.TeamID, TeamSlug: it.TeamSlug, CreateTime: created})
		}
		if !raw.Pagination.HasMore {
			return projects, nil
		}
		// Either would ask for the same page forever.
		switch next := raw.Pagination.NextCursor; {
		case next == "":
			return nil, invalid(op, status, "hasMore without nextCursor")
		case next == cursor:
			return nil, invalid(op, status, "nextCursor did not advance")
		default:
			cursor = next
		}
	}
}

// DeleteProject deletes project projectID and its deployments.
func (p *Platform) DeleteProject(ctx context.Context, teamToken string, projectID int64) (err error) {
	const op = "delete_project"
	defer markPlatform(&err, teamToken)
	if err := checkToken(op, teamToken); err != nil {
		return err
	}
	if projectID <= 0 {
		return badArg(op, "project id must be positive")
	}
	u := p.c.endpoint("/projects/" + strconv.FormatInt(projectID, 10) + "/delete")
	return p.send(ctx, op, u, teamToken, nil)
}

// CreateDeployKey creates a deploy key named keyName (see DeployKeyName) on
// deploymentName and returns it. The key is a secret: store it sealed.
func (p *Platform) CreateDeployKey(ctx context.Context, teamToken, deploymentName, keyName string) (_ string, err error) {
	const op = "create_deploy_key"
	defer markPlatform(&err, teamToken)
	if err := checkDeployment(op, teamToken, deploymentName); err != nil {
		return "", err
	}
	if keyName == "" {
		return "", badArg(op, "key name is required")
	}
	req := struct {
		Name string `json:"name"`
	}{keyName}
	var raw struct {
		DeployKey string `json:"deployKey"`
	}
	status, err := p.c.postJSON(ctx, op, p.deploymentPath(deploymentName, "create_deploy_key"), bearer(teamToken), req, &raw, secretsOf(teamToken))
	if err != nil {
		return "", err
	}
	if raw.DeployKey == "" {
		return "", invalid(op, status, "missing deployKey")
	}
	return raw.DeployKey, nil
}

// DeleteDeployKey deletes deploymentName's deploy key named keyName.
func (p *Platform) DeleteDeployKey(ctx context.Context, teamToken, deploymentName, keyName string) (err error) {
	const op = "delete_deploy_key"
	defer markPlatform(&err, teamToken)
	if err := checkDeployment(op, teamToken, deploymentName); err != nil {
		return err
	}
	if keyName == "" {
		return badArg(op, "key name is required")
	}
	// Despite the field's name, "id" is the key's name (CONTRACT §2.1).
	req := struct {
		ID string `json:"id"`
	}{keyName}
	return p.send(ctx, op, p.deploymentPath(deploymentName, "delete_deploy_key"), teamToken, req)
}

// ListDeployKeys lists deploymentName's deploy keys, without their secrets.
// The answer is bounded by the client's MaxBodyBytes.
func (p *Platform) ListDeployKeys(ctx context.Context, teamToken, deploymentName string) (_ []DeployKeyInfo, err error) {
	const op = "list_deploy_keys"
	defer markPlatform(&err, teamToken)
	if err := checkDeployment(op, teamToken, deploymentName); err != nil {
		return nil, err
	}
	var raw []struct {
		ID             int64       `json:"id"`
		Name           string      `json:"name"`
		CreationTime   json.Number `json:"creationTime"`
		AllowedActions []string    `json:"allowedActions"`
	}
	k, _ := jsonCall(op, http.MethodGet, p.deploymentPath(deploymentName, "list_deploy_keys"), bearer(teamToken), nil, secretsOf(teamToken))
	ans, err := p.c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	if err := decode(op, ans, &raw); err != nil {
		return nil, err
	}
	keys := make([]DeployKeyInfo, 0, len(raw))
	for _, r := range raw {
		created, err := millis(r.CreationTime)
		if err != nil {
			return nil, invalid(op, ans.status, "bad creationTime")
		}
		keys = append(keys, DeployKeyInfo{ID: r.ID, Name: r.Name, CreationTime: created, AllowedActions: r.AllowedActions})
	}
	return keys, nil
}

// send POSTs body (nil = none) to u for a call whose answer is empty: the
// status alone says it took effect, so the body is only size-checked.
func (p *Platform) send(ctx context.Context, op, u, teamToken string, body any) error {
	k, err := jsonCall(op, http.MethodPost, u, bearer(teamToken), body, secretsOf(teamToken))
	if err != nil {
		return err
	}
	_, err = p.c.do(ctx, k)
	return err
}

func (p *Platform) deploymentPath(deploymentName, call string) string {
	return p.c.endpoint("/deployments/" + url.PathEscape(deploymentName) + "/" + call)
}

// markPlatform gives a Platform call's error §2.1's messages and the team
// slug they name. It runs on every return path of every call, so errors
// made before, during and after the request all carry it.
func markPlatform(err *error, teamToken string) {
	if e, ok := errors.AsType[*Error](*err); ok {
		e.platform = true
		if e.TeamSlug == "" {
			e.TeamSlug = TeamSlugFromToken(teamToken)
		}
	}
}

// checkToken refuses a token that cannot be sent: empty, or with bytes a
// header may not hold (Go would refuse it at send time as a network error,
// which would be retried in vain).
func checkToken(op, token string) error {
	if token == "" {
		return badArg(op, "team token is required")
	}
	for i := 0; i < len(token); i++ {
		if b := token[i]; b < 0x21 || b == 0x7f {
			return badArg(op, "team token has characters a header cannot carry")
		}
	}
	return nil
}

func checkTeam(op, token string, teamID int64) error {
	if err := checkToken(op, token); err != nil {
		return err
	}
	if teamID <= 0 {
		return badArg(op, "team id must be positive")
	}
	return nil
}

func checkDeployment(op, token, deploymentName string) error {
	if err := checkToken(op, token); err != nil {
		return err
	}
	if deploymentName == "" {
		return badArg(op, "deployment name is required")
	}
	return nil
}

func tooLong(op, why string) *Error {
	return &Error{Op: op, Status: http.StatusOK, Err: fmt.Errorf("%w: %s", ErrListTooLong, why)}
}
