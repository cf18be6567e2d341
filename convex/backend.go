package convex

import (
	"context"
	"encoding/json"
	"errors"
	"io"
)

// Backend is Convex as the connection flow sees it, in the flow's words:
// create a project on a team, get a deploy key for it, find and delete
// projects an attempt left behind, delete a key by name, and set up the
// deployment's environment. There is one implementation per CONVEX_API mode
// (Builder, PlatformBackend); the mode is chosen once where the product is
// wired, so the flow never asks which one it has. Errors are *Error values
// that UserMessage turns into the mode's sentences.
type Backend interface {
	// CreateProject creates a project named name with a dev deployment on
	// team. On success the project exists whatever happens next.
	CreateProject(ctx context.Context, creds Credentials, team Team, name string) (NewProject, error)
	// DeployKey returns a deploy key for project. keyName is the name the
	// key is given where keys have names (DeployKeyName); the returned
	// IssuedKey.Name is "" where they have none, so there is nothing to
	// delete later.
	DeployKey(ctx context.Context, creds Credentials, project NewProject, keyName string) (IssuedKey, error)
	// DeleteDeployKey deletes deploymentName's keys named keyName; it does
	// nothing where keys cannot be deleted by name.
	DeleteDeployKey(ctx context.Context, creds Credentials, deploymentName, keyName string) error
	// ListProjects lists all of team's projects.
	ListProjects(ctx context.Context, creds Credentials, team Team) ([]Project, error)
	// DeleteProject deletes a project and its deployments.
	DeleteProject(ctx context.Context, creds Credentials, projectID int64) error

	// The deployment's own API (CONTRACT §2.3), the same in both modes.
	EnvironmentVariables(ctx context.Context, deploymentURL, deployKey string) (map[string]string, error)
	UpdateEnvironmentVariables(ctx context.Context, deploymentURL, deployKey string, changes []EnvChange) error

	// Usage is the team token meter, or nil where the mode has none.
	Usage() Usage
	// Hosting is Convex's hosting of built sites, or nil where Convex does
	// not host them (chefdeploy serves them itself).
	Hosting() Hosting
}

// Usage is a team's token meter (builder mode only).
type Usage interface {
	TokenInfo(ctx context.Context, userToken, teamSlug string) (TokenInfo, error)
	RecordTokens(ctx context.Context, userToken, teamSlug string, centitokens int64) (TokenUsage, error)
}

// Hosting uploads a built site to Convex (builder mode only).
type Hosting interface {
	HostingDeploy(ctx context.Context, deployKey, deploymentName string, size int64, body func() (io.ReadCloser, error)) (json.RawMessage, error)
}

// Credentials are what a Backend acts with on one team: in builder mode the
// login's access token, in platform mode the token of the owner's grant for
// that team. Token is a secret.
type Credentials struct {
	Token string
}

// NewProject is a project the flow created (or recorded earlier) and uses.
type NewProject struct {
	ProjectID                     int64
	ProjectSlug, TeamSlug         string
	DeploymentName, DeploymentURL string
	// ProjectsRemaining is the team's quota left after the create; -1 when
	// unknown (always, in platform mode).
	ProjectsRemaining int
}

// IssuedKey is a deploy key and the name it can be deleted by ("" when it
// has none). Key is a secret: store it sealed.
type IssuedKey struct {
	Key, Name string
}

// deploymentCalls are the deployment's own calls, shared by both backends.
type deploymentCalls struct{ c *Client }

func (d deploymentCalls) EnvironmentVariables(ctx context.Context, deploymentURL, deployKey string) (map[string]string, error) {
	return d.c.EnvironmentVariables(ctx, deploymentURL, deployKey)
}

func (d deploymentCalls) UpdateEnvironmentVariables(ctx context.Context, deploymentURL, deployKey string, changes []EnvChange) error {
	return d.c.UpdateEnvironmentVariables(ctx, deploymentURL, deployKey, changes)
}

// Builder is the Backend of CONVEX_API=builder: the builder's provision host
// (CONTRACT §2.2), with the login's access token.
type Builder struct {
	deploymentCalls
	app OAuthApp
}

// NewBuilder returns the builder-mode Backend over c; app is our Convex
// OAuth application, which authorize binds project tokens to.
func NewBuilder(c *Client, app OAuthApp) *Builder {
	return &Builder{deploymentCalls: deploymentCalls{c}, app: app}
}

// CreateProject calls create_project with team's slug.
func (b *Builder) CreateProject(ctx context.Context, creds Credentials, team Team, name string) (NewProject, error) {
	p, err := b.c.CreateProject(ctx, creds.Token, team.Slug, name)
	if err != nil {
		return NewProject{}, err
	}
	return NewProject{
		ProjectID: p.ProjectID, ProjectSlug: p.ProjectSlug, TeamSlug: p.TeamSlug,
		DeploymentName: p.DeploymentName, DeploymentURL: p.ProdURL, ProjectsRemaining: p.ProjectsRemaining,
	}, nil
}

// DeployKey calls authorize and builds project:{team}:{project}|{token}; the
// key has no name.
func (b *Builder) DeployKey(ctx context.Context, creds Credentials, project NewProject, _ string) (IssuedKey, error) {
	token, err := b.c.Authorize(ctx, creds.Token, project.ProjectID, b.app)
	if err != nil {
		return IssuedKey{}, err
	}
	return IssuedKey{Key: DeployKey(project.TeamSlug, project.ProjectSlug, token)}, nil
}

// DeleteDeployKey does nothing: the provision host has no such call, and a
// builder key lives as long as its project.
func (b *Builder) DeleteDeployKey(context.Context, Credentials, string, string) error { return nil }

// ListProjects lists team's projects by slug.
func (b *Builder) ListProjects(ctx context.Context, creds Credentials, team Team) ([]Project, error) {
	return b.c.ListProjects(ctx, creds.Token, team.Slug)
}

// DeleteProject calls delete_project.
func (b *Builder) DeleteProject(ctx context.Context, creds Credentials, projectID int64) error {
	return b.c.DeleteProject(ctx, creds.Token, projectID)
}

// Usage is the provision host's token meter.
func (b *Builder) Usage() Usage { return b.c }

// Hosting is the provision host's site upload.
func (b *Builder) Hosting() Hosting { return b.c }

// PlatformBackend is the Backend of CONVEX_API=platform: the public
// Management API v1 (CONTRACT §2.1), with the owner's team grant.
type PlatformBackend struct {
	deploymentCalls
	p *Platform
}

// NewPlatformBackend returns the platform-mode Backend over p.
func NewPlatformBackend(p *Platform) *PlatformBackend {
	return &PlatformBackend{deploymentCalls: deploymentCalls{p.c}, p: p}
}

// CreateProject calls create_project on team's id. The answer names no
// team; the project is on team.
func (b *PlatformBackend) CreateProject(ctx context.Context, creds Credentials, team Team, name string) (NewProject, error) {
	p, err := b.p.CreateProject(ctx, creds.Token, team.ID, name)
	if err != nil {
		return NewProject{}, onTeam(err, team.Slug)
	}
	return NewProject{
		ProjectID: p.ID, ProjectSlug: p.Slug, TeamSlug: team.Slug,
		DeploymentName: p.DeploymentName, DeploymentURL: p.DeploymentURL, ProjectsRemaining: -1,
	}, nil
}

// DeployKey calls create_deploy_key on the project's deployment with keyName.
func (b *PlatformBackend) DeployKey(ctx context.Context, creds Credentials, project NewProject, keyName string) (IssuedKey, error) {
	key, err := b.p.CreateDeployKey(ctx, creds.Token, project.DeploymentName, keyName)
	if err != nil {
		return IssuedKey{}, onTeam(err, project.TeamSlug)
	}
	return IssuedKey{Key: key, Name: keyName}, nil
}

// DeleteDeployKey calls delete_deploy_key with keyName.
func (b *PlatformBackend) DeleteDeployKey(ctx context.Context, creds Credentials, deploymentName, keyName string) error {
	return b.p.DeleteDeployKey(ctx, creds.Token, deploymentName, keyName)
}

// ListProjects pages through team's projects by id.
func (b *PlatformBackend) ListProjects(ctx context.Context, creds Credentials, team Team) ([]Project, error) {
	ps, err := b.p.ListProjects(ctx, creds.Token, team.ID)
	return ps, onTeam(err, team.Slug)
}

// DeleteProject calls /v1/projects/{id}/delete.
func (b *PlatformBackend) DeleteProject(ctx context.Context, creds Credentials, projectID int64) error {
	return b.p.DeleteProject(ctx, creds.Token, projectID)
}

// Usage is nil: no public call gives a team's token usage.
func (b *PlatformBackend) Usage() Usage { return nil }

// Hosting is nil: Convex has no public hosting (CONTRACT §2.5).
func (b *PlatformBackend) Hosting() Hosting { return nil }

// onTeam makes err's messages name the team the flow asked for, which is
// the one the person chose, even when the token turns out to be another
// team's.
func onTeam(err error, slug string) error {
	if e, ok := errors.AsType[*Error](err); ok && slug != "" {
		e.TeamSlug = slug
	}
	return err
}
