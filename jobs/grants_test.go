package jobs

import (
	"testing"
	"time"

	"github.com/riverqueue/river"

	"chefdeploy/convex"
	"chefdeploy/models"
	"chefdeploy/sandbox"
)

// setupGrants is setup in platform mode with the product's own credential
// source, the team grants stored in PostgreSQL.
func setupGrants(t *testing.T) (*fixture, TeamGrants) {
	t.Helper()
	f := setup(t)
	f.platform = convex.NewPlatform(convex.Options{BaseURL: f.cfg.ProvisionHost, BaseBackoff: 10 * time.Millisecond})
	src := TeamGrants{DB: f.db, Keys: f.cfg.Credentials}
	f.deps.Backend = convex.NewPlatformBackend(f.platform)
	f.deps.CredentialSource = src
	return f, src
}

// grant authorizes team for Ada as the team callback does: a team token,
// its team id from token_details, stored sealed. It returns the token.
func (f *fixture) grant(t *testing.T, team string) (string, int64) {
	t.Helper()
	token, err := f.sb.IssueTeamToken(sandbox.UserAda, team)
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.platform.TokenDetails(t.Context(), token)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := f.cfg.Credentials.SealString(token, models.TeamGrantPurpose(f.user.ID, d.TeamID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.SaveTeamGrant(t.Context(), f.db, models.TeamGrant{
		UserID: f.user.ID, TeamID: d.TeamID, TeamSlug: team, Token: sealed, TokenID: d.ID, TokenName: d.Name,
	}); err != nil {
		t.Fatal(err)
	}
	return token, d.TeamID
}

// The platform source opens the owner's grant for the team, and says what
// to do when there is none or Convex refused it.
func TestTeamGrantsSource(t *testing.T) {
	t.Parallel()
	f, src := setupGrants(t)
	_, _, err := src.Credentials(t.Context(), f.user.ID, sandbox.TeamAcme)
	if nc, ok := noCredentials(err); !ok || nc.Message != MsgNoGrant(sandbox.TeamAcme) {
		t.Fatalf("without a grant: %v, want %q", err, MsgNoGrant(sandbox.TeamAcme))
	}

	token, teamID := f.grant(t, sandbox.TeamAcme)
	creds, team, err := src.Credentials(t.Context(), f.user.ID, sandbox.TeamAcme)
	if err != nil || creds.Token != token || team.ID != teamID || team.Slug != sandbox.TeamAcme {
		t.Fatalf("with a grant: %+v %+v %v", team, creds.Token == token, err)
	}

	if err := src.Revoked(t.Context(), f.user.ID, team, convex.Credentials{Token: "team:acme|not-the-grant"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.Credentials(t.Context(), f.user.ID, sandbox.TeamAcme); err != nil {
		t.Fatalf("another token's refusal revoked the grant: %v", err)
	}
	if err := src.Revoked(t.Context(), f.user.ID, team, creds); err != nil {
		t.Fatal(err)
	}
	_, _, err = src.Credentials(t.Context(), f.user.ID, sandbox.TeamAcme)
	if nc, ok := noCredentials(err); !ok || nc.Message != MsgAuthorizeAgain(sandbox.TeamAcme) {
		t.Fatalf("a revoked grant: %v, want %q", err, MsgAuthorizeAgain(sandbox.TeamAcme))
	}
}

// A grant revoked at Convex (the owner removed the application) fails the
// Connect with CONTRACT §2.1's sentence, creates nothing, and is marked, so
// the next Connect asks for authorization without calling Convex.
func TestRevokedGrantFailsTheConnectAndIsMarked(t *testing.T) {
	t.Parallel()
	f, _ := setupGrants(t)
	token, teamID := f.grant(t, sandbox.TeamAcme)
	if ok, err := f.sb.RevokeToken(token); err != nil || !ok {
		t.Fatalf("revoking the token at the sandbox: %v %v", ok, err)
	}

	c := f.connect(t, sandbox.TeamAcme)
	if c.State != models.StateFailed || c.Error != MsgAuthorizeAgain(sandbox.TeamAcme) {
		t.Fatalf("connection = %s %q, want failed with %q", c.State, c.Error, MsgAuthorizeAgain(sandbox.TeamAcme))
	}
	if ps := f.sb.Projects(sandbox.TeamAcme); len(ps) != 0 {
		t.Fatalf("projects on acme = %+v, want none", ps)
	}
	g, err := models.TeamGrantByID(t.Context(), f.db, f.user.ID, teamID)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Revoked() {
		t.Fatal("the refused grant is not marked revoked")
	}
	if n := f.count(t, `SELECT count(*) FROM events WHERE kind = $1`, models.EventTeamGrantRevoked); n != 1 {
		t.Fatalf("%d team_grant_revoked events, want 1", n)
	}

	calls := f.sb.Calls("create_project", sandbox.TeamAcme)
	again := f.start(t, sandbox.TeamAcme)
	mustWork(t, f, f.provision(), ProvisionArgs{AppID: f.app.ID, Attempt: again.Attempt}, river.EventKindJobCompleted)
	if c := f.connection(t); c.State != models.StateFailed || c.Error != MsgAuthorizeAgain(sandbox.TeamAcme) {
		t.Fatalf("second connect = %s %q", c.State, c.Error)
	}
	if n := f.sb.Calls("create_project", sandbox.TeamAcme); n != calls {
		t.Fatalf("a Connect with a revoked grant called create_project (%d → %d)", calls, n)
	}
}

// A grant whose token is another team's (stored under acme, issued for
// nearly-full, as a mix-up or a tampered row would have it) is refused by
// Convex on acme: the Connect fails with §2.1's 403 sentence naming the
// team the person chose, and no project is made on either team.
func TestTeamTokenUsedOnAnotherTeam(t *testing.T) {
	t.Parallel()
	f, _ := setupGrants(t)
	_, acmeID := f.grant(t, sandbox.TeamAcme)
	other, err := f.sb.IssueTeamToken(sandbox.UserAda, sandbox.TeamNearlyFull)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := f.cfg.Credentials.SealString(other, models.TeamGrantPurpose(f.user.ID, acmeID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Exec(`UPDATE team_grants SET token = $1 WHERE user_id = $2 AND team_id = $3`, sealed, f.user.ID, acmeID); err != nil {
		t.Fatal(err)
	}

	c := f.connect(t, sandbox.TeamAcme)
	want := "Your Convex role on team " + sandbox.TeamAcme + " does not allow this."
	if c.State != models.StateFailed || c.Error != want {
		t.Fatalf("connection = %s %q, want failed with %q", c.State, c.Error, want)
	}
	for _, team := range []string{sandbox.TeamAcme, sandbox.TeamNearlyFull} {
		if ps := f.sb.Projects(team); len(ps) != 0 {
			t.Fatalf("projects on %s = %+v, want none", team, ps)
		}
	}
}
