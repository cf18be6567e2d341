package convex_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"chefdeploy/convex"
	"chefdeploy/sandbox"
)

// backendCase is one Backend served by its own sandbox, with Ada's
// credentials for team acme.
type backendCase struct {
	mode    string
	backend convex.Backend
	creds   convex.Credentials
	team    convex.Team
	sb      *sandbox.Sandbox
	plat    *convex.Platform // platform mode only
}

var oauthApp = convex.OAuthApp{ClientID: "test-client", ClientSecret: "test-client-secret"}

// backends serves a sandbox and builds each mode's Backend on it: builder
// with Ada's login token, platform with her team token for acme and its id
// from token_details, listing 2 projects to a page.
func backends(t *testing.T) []backendCase {
	t.Helper()
	var out []backendCase
	for _, mode := range []string{"builder", "platform"} {
		srv := httptest.NewServer(nil)
		t.Cleanup(srv.Close)
		sb, err := sandbox.New(sandbox.Options{BaseURL: srv.URL, Clients: map[string]string{oauthApp.ClientID: oauthApp.ClientSecret}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sb.Close)
		srv.Config.Handler = sb.Handler()
		opts := convex.Options{BaseURL: srv.URL, BaseBackoff: 5 * time.Millisecond}
		c := backendCase{mode: mode, sb: sb}
		switch mode {
		case "builder":
			token, err := sb.IssueToken(sandbox.UserAda)
			if err != nil {
				t.Fatal(err)
			}
			c.backend = convex.NewBuilder(convex.New(opts), oauthApp)
			c.creds, c.team = convex.Credentials{Token: token}, convex.Team{Slug: sandbox.TeamAcme}
		case "platform":
			token, err := sb.IssueTeamToken(sandbox.UserAda, sandbox.TeamAcme)
			if err != nil {
				t.Fatal(err)
			}
			c.plat = convex.NewPlatform(opts).WithPageSize(2)
			d, err := c.plat.TokenDetails(t.Context(), token)
			if err != nil {
				t.Fatal(err)
			}
			c.backend = convex.NewPlatformBackend(c.plat)
			c.creds, c.team = convex.Credentials{Token: token}, convex.Team{ID: d.TeamID, Slug: sandbox.TeamAcme}
		}
		out = append(out, c)
	}
	return out
}

func TestBackendCreateProject(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.mode, func(t *testing.T) {
			p, err := b.backend.CreateProject(t.Context(), b.creds, b.team, "Recipe Box")
			if err != nil {
				t.Fatal(err)
			}
			live := b.sb.Projects(sandbox.TeamAcme)
			if len(live) != 1 || live[0].ID != p.ProjectID || live[0].DeploymentName != p.DeploymentName || live[0].Name != "Recipe Box" {
				t.Fatalf("created %+v; sandbox has %+v", p, live)
			}
			if p.TeamSlug != sandbox.TeamAcme || p.ProjectSlug == "" || !strings.HasPrefix(p.DeploymentURL, "http") {
				t.Fatalf("created %+v, want acme's project with its slug and deployment URL", p)
			}
			wantRemaining := sandbox.AcmeProjectQuota - 1
			if b.mode == "platform" {
				wantRemaining = -1 // unknown: no public call says
			}
			if p.ProjectsRemaining != wantRemaining {
				t.Fatalf("ProjectsRemaining = %d, want %d", p.ProjectsRemaining, wantRemaining)
			}
		})
	}
}

// The mode's refusal reaches the caller as an *Error with the mode's
// sentence; nothing is created.
func TestBackendCreateProjectRefused(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.mode, func(t *testing.T) {
			team := convex.Team{Slug: sandbox.TeamExpiredSession}
			want := "Your sign-in has expired. Sign in again."
			creds := b.creds
			if b.mode == "platform" {
				token, err := b.sb.IssueTeamToken(sandbox.UserAda, sandbox.TeamExpiredSession)
				if err != nil {
					t.Fatal(err)
				}
				d, err := b.plat.TokenDetails(t.Context(), token)
				if err != nil {
					t.Fatal(err)
				}
				creds, team.ID = convex.Credentials{Token: token}, d.TeamID
				want = "Convex no longer accepts your authorization for team expired-session. Authorize the team again."
			}
			_, err := b.backend.CreateProject(t.Context(), creds, team, "Recipe Box")
			if _, ok := errors.AsType[*convex.Error](err); !ok || convex.UserMessage(err) != want {
				t.Fatalf("err = %v (%q), want an *Error saying %q", err, convex.UserMessage(err), want)
			}
			if ps := b.sb.Projects(sandbox.TeamExpiredSession); len(ps) != 0 {
				t.Fatalf("projects after a refusal: %+v", ps)
			}
		})
	}
}

// DeployKey gives a key the deployment accepts; in platform mode it is named
// and listed, and DeleteDeployKey removes it. In builder mode the key has no
// name and DeleteDeployKey does nothing.
func TestBackendDeployKeys(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.mode, func(t *testing.T) {
			ctx := t.Context()
			p, err := b.backend.CreateProject(ctx, b.creds, b.team, "Recipe Box")
			if err != nil {
				t.Fatal(err)
			}
			name := convex.DeployKeyName("0b6f6a0e-0000-4000-8000-000000000001", 1)
			key, err := b.backend.DeployKey(ctx, b.creds, p, name)
			if err != nil {
				t.Fatal(err)
			}
			// The deployment's own calls take the key, in both modes.
			v := "on"
			if err := b.backend.UpdateEnvironmentVariables(ctx, p.DeploymentURL, key.Key, []convex.EnvChange{{Name: "FEATURE", Value: &v}}); err != nil {
				t.Fatal(err)
			}
			env, err := b.backend.EnvironmentVariables(ctx, p.DeploymentURL, key.Key)
			if err != nil || env["FEATURE"] != "on" {
				t.Fatalf("env = %v, %v; want FEATURE=on", env, err)
			}
			switch b.mode {
			case "builder":
				if key.Name != "" || !strings.HasPrefix(key.Key, "project:acme:"+p.ProjectSlug+"|") {
					t.Fatalf("builder key named %q, want project:acme:%s|… with no name", key.Name, p.ProjectSlug)
				}
				if err := b.backend.DeleteDeployKey(ctx, b.creds, p.DeploymentName, name); err != nil {
					t.Fatalf("builder DeleteDeployKey = %v, want a no-op", err)
				}
				if _, err := b.backend.EnvironmentVariables(ctx, p.DeploymentURL, key.Key); err != nil {
					t.Fatalf("the builder key stopped working after the no-op delete: %v", err)
				}
			case "platform":
				if key.Name != name || !strings.HasPrefix(key.Key, "dev:"+p.DeploymentName+"|") {
					t.Fatalf("platform key named %q, want a dev key named %q", key.Name, name)
				}
				if n := b.keysNamed(t, p.DeploymentName, name); n != 1 {
					t.Fatalf("keys named %s = %d, want 1", name, n)
				}
				if err := b.backend.DeleteDeployKey(ctx, b.creds, p.DeploymentName, name); err != nil {
					t.Fatal(err)
				}
				if n := b.keysNamed(t, p.DeploymentName, name); n != 0 {
					t.Fatalf("keys named %s after delete = %d, want 0", name, n)
				}
				if _, err := b.backend.EnvironmentVariables(ctx, p.DeploymentURL, key.Key); err == nil {
					t.Fatal("a deleted key still opens the deployment")
				}
				err := b.backend.DeleteDeployKey(ctx, b.creds, p.DeploymentName, name)
				if e, ok := errors.AsType[*convex.Error](err); !ok || e.Status != http.StatusNotFound {
					t.Fatalf("deleting it again = %v, want a 404 *Error", err)
				}
			}
		})
	}
}

func (b backendCase) keysNamed(t *testing.T, deploymentName, name string) int {
	t.Helper()
	ks, err := b.plat.ListDeployKeys(t.Context(), b.creds.Token, deploymentName)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range ks {
		if k.Name == name {
			n++
		}
	}
	return n
}

// ListProjects returns every project of the team, across pages in platform
// mode, and DeleteProject removes one.
func TestBackendListAndDeleteProjects(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.mode, func(t *testing.T) {
			ctx := t.Context()
			ids := map[int64]bool{}
			for _, name := range []string{"A", "B", "C", "D", "E"} {
				p, err := b.backend.CreateProject(ctx, b.creds, b.team, name)
				if err != nil {
					t.Fatal(err)
				}
				ids[p.ProjectID] = true
			}
			lists := b.sb.Calls("list_projects", sandbox.TeamAcme)
			ps, err := b.backend.ListProjects(ctx, b.creds, b.team)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 5 {
				t.Fatalf("listed %d projects, want 5", len(ps))
			}
			for _, p := range ps {
				if !ids[p.ID] || p.CreateTime.IsZero() {
					t.Fatalf("listed %+v, not one created here (or without its time)", p)
				}
			}
			if n := b.sb.Calls("list_projects", sandbox.TeamAcme) - lists; b.mode == "platform" && n != 3 {
				t.Fatalf("listed %d pages of 2 for 5 projects, want 3", n)
			}
			if err := b.backend.DeleteProject(ctx, b.creds, ps[0].ID); err != nil {
				t.Fatal(err)
			}
			if live := b.sb.Projects(sandbox.TeamAcme); len(live) != 4 {
				t.Fatalf("live projects after a delete = %d, want 4", len(live))
			}
		})
	}
}

// Usage and hosting exist in builder mode only.
func TestBackendCapabilities(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.mode, func(t *testing.T) {
			hasUsage, hasHosting := b.backend.Usage() != nil, b.backend.Hosting() != nil
			if want := b.mode == "builder"; hasUsage != want || hasHosting != want {
				t.Fatalf("usage %v, hosting %v; want both %v", hasUsage, hasHosting, want)
			}
			if u := b.backend.Usage(); u != nil {
				if _, err := u.TokenInfo(t.Context(), b.creds.Token, sandbox.TeamAcme); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
