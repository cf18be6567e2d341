package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

const stateFile = "state.json"

// state is everything the sandbox keeps across restarts. Secrets (user
// tokens, deploy tokens, admin keys) are stored as sha256 hashes only.
type state struct {
	NextProjectID int64 `json:"nextProjectId"`
	// Tokens maps the hash of a user access token to the user's key.
	Tokens   map[string]string `json:"tokens"`
	Projects []*project        `json:"projects"`
	// Env maps a deployment name to its environment variables.
	Env map[string]map[string]string `json:"env"`
	// Calls counts calls by callKey(op, team).
	Calls map[string]int `json:"calls"`
	// CentitokensUsed is what record_tokens added to a team's starting usage.
	CentitokensUsed map[string]int64 `json:"centitokensUsed"`
	// OIDCKey is the ID-token signing key, base64 of PKCS#8 DER. Unlike the
	// tokens it must be kept in the clear: the sandbox signs with it.
	OIDCKey string `json:"oidcKey,omitempty"`
	// OIDCTokens maps the hash of an OIDC access token to its grant.
	OIDCTokens map[string]oidcGrant `json:"oidcTokens"`
	// OIDCRefreshTokens maps the hash of an OIDC refresh token to its grant.
	OIDCRefreshTokens map[string]oidcGrant `json:"oidcRefreshTokens"`
	// TeamTokens maps the hash of a team token (a team grant of the
	// Management API) to what it grants.
	TeamTokens      map[string]*teamToken `json:"teamTokens"`
	NextTokenID     int64                 `json:"nextTokenId"`
	NextDeployKeyID int64                 `json:"nextDeployKeyId"`
}

// oidcGrant is what an OIDC access or refresh token stands for.
type oidcGrant struct {
	User     string   `json:"user"`
	ClientID string   `json:"clientId"`
	Scopes   []string `json:"scopes"`
	Expires  int64    `json:"expires"` // ms since epoch
}

// teamToken is one team grant: a person's consent for one application to
// act on one team.
type teamToken struct {
	ID         int64  `json:"id"`
	TeamSlug   string `json:"teamSlug"`
	UserKey    string `json:"userKey"`
	Name       string `json:"name"`
	CreateTime int64  `json:"createTime"`
}

// namedDeployKey is a deploy key made by create_deploy_key; only its hash
// is kept.
type namedDeployKey struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	CreationTime int64  `json:"creationTime"`
	Hash         string `json:"hash"`
}

// project is a Convex project with its single dev deployment.
type project struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	Slug           string `json:"slug"`
	TeamSlug       string `json:"teamSlug"`
	TeamID         int64  `json:"teamId"`
	DeploymentName string `json:"deploymentName"`
	CreateTime     int64  `json:"createTime"` // ms since epoch, as the API answers it
	DeleteTime     int64  `json:"deleteTime,omitempty"`
	AdminKeyHash   string `json:"adminKeyHash"`
	// DeployTokenHashes are the access tokens authorize issued for the project.
	DeployTokenHashes []string `json:"deployTokenHashes,omitempty"`
	// DeployKeys are the deployment's keys made by create_deploy_key.
	DeployKeys []*namedDeployKey `json:"deployKeys,omitempty"`
	Site       *site             `json:"site,omitempty"`
}

// site describes the last hosting deploy of a deployment; the bytes live in
// StateDir/sites or in memory.
type site struct {
	Bytes      int64  `json:"bytes"`
	SHA256     string `json:"sha256"`
	DeployTime int64  `json:"deployTime"`
}

func (p *project) live() bool { return p.DeleteTime == 0 }

// Project is a read-only copy of a sandbox project, for tests.
type Project struct {
	ID             int64
	Name           string
	Slug           string
	TeamSlug       string
	TeamID         int64
	DeploymentName string
	CreateTime     time.Time
	// DeployKeyNames name the deployment's live keys made by create_deploy_key.
	DeployKeyNames []string
}

func (p *project) public() Project {
	out := Project{
		ID: p.ID, Name: p.Name, Slug: p.Slug, TeamSlug: p.TeamSlug, TeamID: p.TeamID,
		DeploymentName: p.DeploymentName, CreateTime: time.UnixMilli(p.CreateTime),
	}
	for _, k := range p.DeployKeys {
		out.DeployKeyNames = append(out.DeployKeyNames, k.Name)
	}
	return out
}

func newState() *state {
	return &state{
		NextProjectID:     1,
		Tokens:            map[string]string{},
		Env:               map[string]map[string]string{},
		Calls:             map[string]int{},
		CentitokensUsed:   map[string]int64{},
		OIDCTokens:        map[string]oidcGrant{},
		OIDCRefreshTokens: map[string]oidcGrant{},
		TeamTokens:        map[string]*teamToken{},
		NextTokenID:       1,
		NextDeployKeyID:   1,
	}
}

func callKey(op, team string) string { return op + " " + team }

// loadState reads StateDir/state.json; a missing file is a fresh start.
func loadState(dir string) (*state, error) {
	st := newState()
	if dir == "" {
		return st, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: read state: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("sandbox: %s is damaged (%v); delete it to start over", filepath.Join(dir, stateFile), err)
	}
	// A file written by hand or by an older version may lack maps.
	if st.Tokens == nil {
		st.Tokens = map[string]string{}
	}
	if st.Env == nil {
		st.Env = map[string]map[string]string{}
	}
	if st.Calls == nil {
		st.Calls = map[string]int{}
	}
	if st.CentitokensUsed == nil {
		st.CentitokensUsed = map[string]int64{}
	}
	if st.OIDCTokens == nil {
		st.OIDCTokens = map[string]oidcGrant{}
	}
	if st.OIDCRefreshTokens == nil {
		st.OIDCRefreshTokens = map[string]oidcGrant{}
	}
	if st.TeamTokens == nil {
		st.TeamTokens = map[string]*teamToken{}
	}
	maps.DeleteFunc(st.TeamTokens, func(_ string, t *teamToken) bool { return t == nil })
	st.NextTokenID = max(st.NextTokenID, 1)
	st.NextDeployKeyID = max(st.NextDeployKeyID, 1)
	for _, t := range st.TeamTokens {
		st.NextTokenID = max(st.NextTokenID, t.ID+1)
	}
	st.Projects = slices.DeleteFunc(st.Projects, func(p *project) bool { return p == nil })
	for _, p := range st.Projects {
		st.NextProjectID = max(st.NextProjectID, p.ID+1)
		p.DeployKeys = slices.DeleteFunc(p.DeployKeys, func(k *namedDeployKey) bool { return k == nil })
		for _, k := range p.DeployKeys {
			st.NextDeployKeyID = max(st.NextDeployKeyID, k.ID+1)
		}
	}
	return st, nil
}

// saveLocked writes the state atomically (temp file + rename) so a crash
// never leaves half a file. The caller holds s.mu.
func (s *Sandbox) saveLocked() error {
	if s.opts.StateDir == "" {
		return nil
	}
	b, err := json.MarshalIndent(s.st, "", "  ")
	if err != nil {
		return fmt.Errorf("sandbox: encode state: %w", err)
	}
	return writeFileAtomic(filepath.Join(s.opts.StateDir, stateFile), b)
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := writeTemp(path, b)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("sandbox: save %s: %w", filepath.Base(path), err)
	}
	return nil
}

// writeTemp writes b, synced, to a new file next to path, ready to be
// renamed over it.
func writeTemp(path string, b []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// countLocked records one call of op for team and returns the new count.
// Counters are state too, so a failure cycle survives a restart; a failed
// save is only logged because the call itself must still be answered.
func (s *Sandbox) countLocked(op, team string) int {
	k := callKey(op, team)
	s.st.Calls[k]++
	if err := s.saveLocked(); err != nil {
		s.log.Error("sandbox: save state", "err", err)
	}
	return s.st.Calls[k]
}

// projectByIDLocked finds a live project.
func (s *Sandbox) projectByIDLocked(id int64) *project {
	for _, p := range s.st.Projects {
		if p.ID == id && p.live() {
			return p
		}
	}
	return nil
}

// projectByDeploymentLocked finds the live project owning a deployment.
func (s *Sandbox) projectByDeploymentLocked(name string) *project {
	for _, p := range s.st.Projects {
		if p.DeploymentName == name && p.live() {
			return p
		}
	}
	return nil
}

// liveProjectsLocked lists a team's live projects in creation order.
func (s *Sandbox) liveProjectsLocked(team string) []*project {
	var out []*project
	for _, p := range s.st.Projects {
		if p.TeamSlug == team && p.live() {
			out = append(out, p)
		}
	}
	return out
}
