package sandbox

// Demo user keys: the value of the user field on the authorize page and the
// argument of IssueToken.
const (
	UserAda   = "ada"
	UserGrace = "grace"
	UserSam   = "sam"
)

// Slugs of the demo teams that behave normally.
const (
	TeamAcme        = "acme"
	TeamNearlyFull  = "nearly-full"
	TeamDisabled    = "disabled"
	TeamHopperLabs  = "hopper-labs"
	TeamChefSupport = "chef-support"
	TeamSamSandbox  = "sam-sandbox"
)

// Slugs of the demo teams that fail in a fixed way, so the product's error
// handling can be exercised by picking a team. All belong to Ada.
const (
	// TeamQuotaReached answers create_project with 400 ProjectQuotaReached.
	TeamQuotaReached = "quota-reached"
	// TeamSSORequired answers create_project with 403 SSORequired.
	TeamSSORequired = "sso-required"
	// TeamFlaky answers create_project with 500 twice, then succeeds, cyclically.
	TeamFlaky = "flaky"
	// TeamRateLimited answers every odd create_project with 429 and Retry-After: 1.
	TeamRateLimited = "rate-limited"
	// TeamBlackHole never answers create_project.
	TeamBlackHole = "black-hole"
	// TeamSlow answers create_project after Options.SlowDelay.
	TeamSlow = "slow"
	// TeamMalformed creates the project but answers with truncated JSON.
	TeamMalformed = "malformed"
	// TeamAuthorizeFails creates projects but answers authorize with 403.
	TeamAuthorizeFails = "authorize-fails"
	// TeamExpiredSession answers create_project with 401.
	TeamExpiredSession = "expired-session"
)

// Quotas of the demo teams that tests elsewhere reason about.
const (
	// AcmeProjectQuota is how many live projects Acme may have.
	AcmeProjectQuota = 50
	// NearlyFullProjectQuota leaves 2 projects after the first create, which
	// is the product's threshold for the "projects remaining" warning.
	NearlyFullProjectQuota = 3
	// DefaultCentitokensQuota is the token quota of every team.
	DefaultCentitokensQuota = 10_000_000
)

// User is a demo account. Users are constants: they are not part of the saved
// state and cannot be created.
type User struct {
	Key   string
	Name  string
	Email string
	// ProfileID is the "id" of /api/dashboard/profile: an int64 for some users
	// and a string for others, because the real service answers both shapes.
	ProfileID any
	// Teams are team slugs; the first is the one the OAuth token names.
	Teams []string
	// Groups is the OIDC groups claim.
	Groups []string
}

// SupportGroup is the OIDC group of the support staff (Sam).
const SupportGroup = "support"

// Subject is the user's OIDC sub: stable, and never reused for another.
func (u User) Subject() string { return "sandbox-user-" + u.Key }

// Team is a demo team.
type Team struct {
	ID           int64
	Name         string
	Slug         string
	ReferralCode string
	// ProjectQuota is the most live projects the team may have.
	ProjectQuota int
	// CentitokensUsed is the usage the team starts with.
	CentitokensUsed  int64
	CentitokensQuota int64
	Disabled         bool
	PaidPlan         bool
}

var demoUsers = []User{
	{
		Key: UserAda, Name: "Ada Lovelace", Email: "ada@example.com", ProfileID: int64(1001),
		Teams: []string{
			TeamAcme, TeamNearlyFull, TeamDisabled,
			TeamQuotaReached, TeamSSORequired, TeamFlaky, TeamRateLimited, TeamBlackHole,
			TeamSlow, TeamMalformed, TeamAuthorizeFails, TeamExpiredSession,
		},
	},
	{
		Key: UserGrace, Name: "Grace Hopper", Email: "grace@example.com", ProfileID: "user_grace",
		Teams: []string{TeamHopperLabs},
	},
	{
		Key: UserSam, Name: "Sam Support", Email: "sam@example.com", ProfileID: int64(1003),
		Teams:  []string{TeamChefSupport, TeamSamSandbox},
		Groups: []string{SupportGroup},
	},
}

var demoTeams = []Team{
	{ID: 1, Name: "Acme", Slug: TeamAcme, ProjectQuota: AcmeProjectQuota, PaidPlan: true},
	{ID: 2, Name: "Hopper Labs", Slug: TeamHopperLabs, ProjectQuota: 20},
	{ID: 3, Name: "Chef Support", Slug: TeamChefSupport, ProjectQuota: 20, PaidPlan: true},
	{ID: 4, Name: "Sam's Sandbox", Slug: TeamSamSandbox, ProjectQuota: 20},
	{ID: 5, Name: "Nearly Full", Slug: TeamNearlyFull, ProjectQuota: NearlyFullProjectQuota},
	{ID: 6, Name: "Disabled", Slug: TeamDisabled, ProjectQuota: 20, Disabled: true, CentitokensUsed: DefaultCentitokensQuota},
	// Quota 0 makes the ordinary quota check give this team's answer.
	{ID: 11, Name: "Quota Reached", Slug: TeamQuotaReached, ProjectQuota: 0},
	{ID: 12, Name: "SSO Required", Slug: TeamSSORequired, ProjectQuota: 20},
	{ID: 13, Name: "Flaky", Slug: TeamFlaky, ProjectQuota: 20},
	{ID: 14, Name: "Rate Limited", Slug: TeamRateLimited, ProjectQuota: 20},
	{ID: 15, Name: "Black Hole", Slug: TeamBlackHole, ProjectQuota: 20},
	{ID: 16, Name: "Slow", Slug: TeamSlow, ProjectQuota: 20},
	{ID: 17, Name: "Malformed", Slug: TeamMalformed, ProjectQuota: 20},
	{ID: 18, Name: "Authorize Fails", Slug: TeamAuthorizeFails, ProjectQuota: 20},
	{ID: 19, Name: "Expired Session", Slug: TeamExpiredSession, ProjectQuota: 20},
}

var (
	usersByKey  = map[string]User{}
	teamsBySlug = map[string]Team{}
)

// init indexes the demo data and fills in what every team shares, so the
// tables above stay short.
func init() {
	for _, u := range demoUsers {
		usersByKey[u.Key] = u
	}
	for i := range demoTeams {
		t := &demoTeams[i]
		if t.CentitokensQuota == 0 {
			t.CentitokensQuota = DefaultCentitokensQuota
		}
		t.ReferralCode = referralCode(t.Slug, t.ID)
		teamsBySlug[t.Slug] = *t
	}
}

// DemoUsers returns the demo users in the order the authorize page lists them.
func DemoUsers() []User {
	out := make([]User, len(demoUsers))
	for i, u := range demoUsers {
		u.Teams = append([]string(nil), u.Teams...)
		u.Groups = append([]string(nil), u.Groups...)
		out[i] = u
	}
	return out
}

// DemoTeam returns the demo team with the given slug.
func DemoTeam(slug string) (Team, bool) {
	t, ok := teamsBySlug[slug]
	return t, ok
}

// isMember reports whether the user belongs to the team.
func (u User) isMember(teamSlug string) bool {
	for _, t := range u.Teams {
		if t == teamSlug {
			return true
		}
	}
	return false
}
