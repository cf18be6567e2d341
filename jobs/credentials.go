package jobs

import (
	"context"
	"errors"

	"github.com/jmoiron/sqlx"

	"chefdeploy/convex"
	"chefdeploy/credentials"
	"chefdeploy/models"
)

// CredentialSource finds what the flow acts with at Convex for an app's
// owner on one team: in builder mode the owner's login access token
// (users.convex_token), in platform mode the owner's grant for that team.
// It is chosen with the Backend, where the product is wired.
type CredentialSource interface {
	// Credentials returns the credentials and the team (its slug, and its id
	// where the mode has one), or a *NoCredentialsError.
	Credentials(ctx context.Context, ownerID, teamSlug string) (convex.Credentials, convex.Team, error)
}

// NoCredentialsError says there is nothing to act with for the owner on the
// team; Message is the sentence the owner reads.
type NoCredentialsError struct {
	Message string
	Err     error
}

func (e *NoCredentialsError) Error() string {
	if e.Err != nil {
		return "no Convex credentials: " + e.Err.Error()
	}
	return "no Convex credentials"
}

func (e *NoCredentialsError) Unwrap() error { return e.Err }

// noCredentials says whether err is a *NoCredentialsError.
func noCredentials(err error) (*NoCredentialsError, bool) {
	return errors.AsType[*NoCredentialsError](err)
}

// msgSignInAgain is what an owner whose login token cannot be used reads.
const msgSignInAgain = "Your sign-in has expired. Sign in again."

// LoginTokens is the builder-mode CredentialSource: the owner's login access
// token, opened from users.convex_token, for every team.
type LoginTokens struct {
	DB   *sqlx.DB
	Keys *credentials.Keyring
}

// Credentials opens the owner's token; the team has only its slug.
func (l LoginTokens) Credentials(ctx context.Context, ownerID, teamSlug string) (convex.Credentials, convex.Team, error) {
	team := convex.Team{Slug: teamSlug}
	sealed, err := models.UserToken(ctx, l.DB, ownerID)
	if errors.Is(err, models.ErrNotFound) || (err == nil && sealed == "") {
		return convex.Credentials{}, team, &NoCredentialsError{Message: msgSignInAgain, Err: models.ErrNotFound}
	}
	if err != nil {
		return convex.Credentials{}, team, err
	}
	token, err := l.Keys.OpenString(sealed, models.UserTokenPurpose(ownerID))
	if err != nil {
		return convex.Credentials{}, team, &NoCredentialsError{Message: msgSignInAgain, Err: err}
	}
	return convex.Credentials{Token: token}, team, nil
}

// ownerCreds are one owner's credentials, looked up once per team for the
// length of one job.
type ownerCreds struct {
	src     CredentialSource
	ownerID string
	known   map[string]teamCreds
}

type teamCreds struct {
	creds convex.Credentials
	team  convex.Team
}

func (p *workerDeps) owner(ownerID string) *ownerCreds {
	return &ownerCreds{src: p.CredentialSource, ownerID: ownerID, known: map[string]teamCreds{}}
}

// forTeam returns the owner's credentials for team, asking the source once.
func (o *ownerCreds) forTeam(ctx context.Context, team string) (convex.Credentials, convex.Team, error) {
	if tc, ok := o.known[team]; ok {
		return tc.creds, tc.team, nil
	}
	creds, t, err := o.src.Credentials(ctx, o.ownerID, team)
	if err != nil {
		return creds, t, err
	}
	if t.Slug == "" {
		t.Slug = team
	}
	o.known[team] = teamCreds{creds, t}
	return creds, t, nil
}

// TeamGrants is the platform-mode CredentialSource: the owner's grant for
// the team (CONTRACT §3.2), opened from team_grants.
type TeamGrants struct {
	DB   *sqlx.DB
	Keys *credentials.Keyring
}

// MsgAuthorizeAgain is CONTRACT §2.1's sentence for a grant Convex refused.
func MsgAuthorizeAgain(slug string) string {
	return "Convex no longer accepts your authorization for team " + slug + ". Authorize the team again."
}

// MsgNoGrant is what an owner reads who has no grant for the team.
func MsgNoGrant(slug string) string {
	return "chefdeploy has no authorization for team " + slug + ". Authorize the team, then connect again."
}

// Credentials opens the owner's grant for teamSlug; a missing, revoked or
// unreadable grant is a *NoCredentialsError saying what to do.
func (g TeamGrants) Credentials(ctx context.Context, ownerID, teamSlug string) (convex.Credentials, convex.Team, error) {
	team := convex.Team{Slug: teamSlug}
	grant, err := models.TeamGrantBySlug(ctx, g.DB, ownerID, teamSlug)
	if errors.Is(err, models.ErrNotFound) {
		return convex.Credentials{}, team, &NoCredentialsError{Message: MsgNoGrant(teamSlug), Err: err}
	}
	if err != nil {
		return convex.Credentials{}, team, err
	}
	team.ID = grant.TeamID
	if grant.Revoked() {
		return convex.Credentials{}, team, &NoCredentialsError{Message: MsgAuthorizeAgain(teamSlug)}
	}
	token, err := g.Keys.OpenString(grant.Token, models.TeamGrantPurpose(ownerID, grant.TeamID))
	if err != nil {
		return convex.Credentials{}, team, &NoCredentialsError{Message: MsgAuthorizeAgain(teamSlug), Err: err}
	}
	return convex.Credentials{Token: token}, team, nil
}

// GrantRevoker is a CredentialSource whose credentials Convex can revoke:
// told that creds were refused (a 401), it marks them so, and the next
// Connect asks the owner to authorize again.
type GrantRevoker interface {
	Revoked(ctx context.Context, ownerID string, team convex.Team, creds convex.Credentials) error
}

// Revoked marks the owner's grant for team revoked, if it is still the one
// whose token creds holds (a team authorized again since is left alone).
func (g TeamGrants) Revoked(ctx context.Context, ownerID string, team convex.Team, creds convex.Credentials) error {
	grant, err := models.TeamGrantByID(ctx, g.DB, ownerID, team.ID)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	token, err := g.Keys.OpenString(grant.Token, models.TeamGrantPurpose(ownerID, grant.TeamID))
	if err != nil || token != creds.Token {
		return nil
	}
	_, err = models.MarkTeamGrantRevoked(ctx, g.DB, ownerID, grant.TeamID, grant.Token)
	return err
}

// revoked tells the source, when it can revoke, that Convex refused the
// owner's credentials for team.
func (o *ownerCreds) revoked(ctx context.Context, team string) error {
	r, ok := o.src.(GrantRevoker)
	tc, known := o.known[team]
	if !ok || !known {
		return nil
	}
	return r.Revoked(ctx, o.ownerID, tc.team, tc.creds)
}
