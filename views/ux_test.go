package views_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"chefdeploy/models"
	"chefdeploy/views"
)

// TestFailureTitleAndAction checks each failure kind's plain title and its
// one next step, read from the contract's exact message (CONTRACT §2.1,
// §2.2), which the panel keeps under "Details".
func TestFailureTitleAndAction(t *testing.T) {
	t.Parallel()
	cases := []struct {
		msg        string
		kind       string
		title      string
		action     string
		actionURL  string
		secondLink string
	}{
		{"Failed to create project: ProjectQuotaReached: Team has reached its project limit", views.FailureQuota,
			"Team acme has no room for another project", "Choose another team", "", "https://dash.example/t/acme"},
		{"You must log in with Single Sign-on to access this team.", views.FailureSSO,
			"Team acme requires single sign-on", "Sign in with SSO", "/auth/login?reauth=1&return=%2Fapps%2Fa1", ""},
		{"Convex no longer accepts your authorization for team acme. Authorize the team again.", views.FailureRevoked,
			"Convex no longer accepts your authorization for team acme", "Authorize again", "/teams/authorize?team=acme&return=%2Fapps%2Fa1", ""},
		{"Failed to connect to project", views.FailureTimeout,
			"Convex didn't answer in 15 s", "Try again", "", ""},
		{"Your sign-in has expired. Sign in again.", views.FailureExpired,
			"Your sign-in has expired", "Sign in again", "/auth/login?reauth=1&return=%2Fapps%2Fa1", ""},
		{"Your Convex role on team acme does not allow this.", views.FailureRole,
			"Your role on team acme cannot create projects", "Choose another team", "", ""},
		{"Failed to create project deploy key: 403", views.FailureOther,
			"Could not connect to Convex", "Try again", "", ""},
		{"Failed to create project: 500", views.FailureOther,
			"Could not connect to Convex", "Try again", "", ""},
	}
	for _, tc := range cases {
		v := views.StatusView{AppID: "a1", State: models.StateFailed, TeamSlug: "acme", Error: tc.msg, TeamDashboardURL: "https://dash.example/t/acme"}
		f := v.Failure()
		if f.Kind != tc.kind || f.Title != tc.title || f.ActionLabel != tc.action || f.ActionURL != tc.actionURL || f.SecondURL != tc.secondLink || f.Message != tc.msg {
			t.Errorf("%q:\n got %+v\nwant kind %s, title %q, action %q → %q, second %q", tc.msg, f, tc.kind, tc.title, tc.action, tc.actionURL, tc.secondLink)
		}
		html := render(t, views.StatusFragment(v))
		for _, want := range []string{
			`data-kind="` + tc.kind + `"`,
			"<summary", ">Details</summary>",
			`data-testid="connection-error">` + strings.ReplaceAll(strings.ReplaceAll(tc.msg, "'", "&#39;"), "&", "&amp;") + "<",
			">" + strings.ReplaceAll(tc.title, "'", "&#39;") + "<",
		} {
			if !strings.Contains(html, want) {
				t.Errorf("%s: the panel lacks %q:\n%s", tc.kind, want, html)
			}
		}
		if tc.actionURL != "" && !strings.Contains(html, `href="`+strings.ReplaceAll(tc.actionURL, "&", "&amp;")+`"`) {
			t.Errorf("%s: the panel does not link %s:\n%s", tc.kind, tc.actionURL, html)
		}
		// Without a link, the action is the connect form's button, which the
		// lazily loaded team selector labels.
		if tc.actionURL == "" && !strings.Contains(html, "label="+url.QueryEscape(tc.action)) {
			t.Errorf("%s: the connect form's button is not labelled %q:\n%s", tc.kind, tc.action, html)
		}
		if tc.actionURL != "" && !strings.Contains(html, ">"+tc.action+"<") {
			t.Errorf("%s: the panel lacks the action %q:\n%s", tc.kind, tc.action, html)
		}
	}
}

// TestFailureDoesNotPreselectTheFailingTeam: after a failure the same team
// would repeat, the team selector is asked not to preselect it.
func TestFailureDoesNotPreselectTheFailingTeam(t *testing.T) {
	t.Parallel()
	quota := render(t, views.StatusFragment(views.StatusView{AppID: "a1", State: models.StateFailed, TeamSlug: "quota-reached",
		Error: "Failed to create project: ProjectQuotaReached: full"}))
	if !strings.Contains(quota, "avoid=quota-reached") {
		t.Errorf("the quota failure's selector preselects the failing team:\n%s", quota)
	}
	timeout := render(t, views.StatusFragment(views.StatusView{AppID: "a1", State: models.StateFailed, TeamSlug: "slow", Error: "Failed to connect to project"}))
	if strings.Contains(timeout, "avoid=") {
		t.Errorf("a timeout's Try again does not keep the team:\n%s", timeout)
	}
}

// TestConnectingShowsHonestProgress: the step in words, the elapsed time,
// and after 5 s the line that Convex is slow.
func TestConnectingShowsHonestProgress(t *testing.T) {
	t.Parallel()
	early := render(t, views.StatusFragment(views.StatusView{AppID: "a1", State: models.StateConnecting, Step: models.StepCreating, Elapsed: 2300 * time.Millisecond}))
	for _, want := range []string{"Creating project…", "2 s elapsed", `aria-label="Connecting to Convex"`, `aria-valuetext="Creating project"`} {
		if !strings.Contains(early, want) {
			t.Errorf("the connecting panel lacks %q:\n%s", want, early)
		}
	}
	if strings.Contains(early, "creating_project") || strings.Contains(early, "slow to answer") {
		t.Errorf("the connecting panel shows a raw step or the slow line at 2 s:\n%s", early)
	}
	late := render(t, views.StatusFragment(views.StatusView{AppID: "a1", State: models.StateConnecting, Step: models.StepAuthorizing, Elapsed: 6 * time.Second, Deadline: 15 * time.Second}))
	for _, want := range []string{"Authorizing…", "6 s elapsed", "Convex is slow to answer; we wait up to 15 s."} {
		if !strings.Contains(late, want) {
			t.Errorf("the connecting panel at 6 s lacks %q:\n%s", want, late)
		}
	}
}

// TestStatusAnnouncesOnce: the fragment no longer is a live region (it is
// replaced every second); it carries the sentence for the page's persistent
// live region, the same while the state and step stay the same.
func TestStatusAnnouncesOnce(t *testing.T) {
	t.Parallel()
	a := views.StatusView{AppID: "a1", State: models.StateConnecting, Step: models.StepCreating, Elapsed: time.Second}
	b := a
	b.Elapsed = 3 * time.Second
	if a.Announcement() != b.Announcement() || a.Announcement() == "" {
		t.Errorf("the announcement changes with the elapsed time: %q, %q", a.Announcement(), b.Announcement())
	}
	html := render(t, views.StatusFragment(a))
	if strings.Contains(html, "aria-live") || !strings.Contains(html, `data-announce="Connecting to Convex: Creating project."`) {
		t.Errorf("the fragment is its own live region, or carries no announcement:\n%s", html)
	}
	page := render(t, views.Layout(views.Page{Title: "x"}))
	if !strings.Contains(page, `id="announcer"`) || !strings.Contains(page, `aria-live="polite"`) {
		t.Errorf("the layout has no persistent live region:\n%s", page)
	}
}

// TestDeployHistoryReadsWell: relative times with the absolute time in
// <time datetime> and its title, sizes in one unit, "View site" only once a
// deploy is live, no stale steps after a refused bundle, a drop zone, and a
// labelled upload progress.
func TestDeployHistoryReadsWell(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 22, 49, 0, 0, time.UTC)
	at := time.Date(2026, 11, 30, 22, 46, 0, 0, time.UTC)
	failed := views.DeploysView{AppID: "a1", SiteURL: "https://site.example/", MaxMB: 50, Deploys: []views.DeployItem{
		{ID: "d1", AppID: "a1", Status: models.DeployFailed, Error: "upload failed", At: at, Bytes: 130211, Files: 3, Now: now},
	}}
	html := render(t, views.DeploysPanel(failed))
	for _, want := range []string{`<time datetime="2026-11-30T22:46:00Z" title="2026-11-30 22:46 UTC"`, ">3 min ago</time>", "127.2 KiB, 3 files",
		"data-dropzone", `aria-label="Upload progress"`, "up to 50 MiB"} {
		if !strings.Contains(html, want) {
			t.Errorf("the deploy panel lacks %q:\n%s", want, html)
		}
	}
	if strings.Contains(html, `data-testid="site-link"`) || strings.Contains(html, "130211") {
		t.Errorf("the panel shows View site before any deploy is live, or a size in bytes:\n%s", html)
	}
	live := failed
	live.Deploys = append([]views.DeployItem{{ID: "d2", AppID: "a1", Status: models.DeployLive, At: now, Bytes: 2 << 20, Files: 1, Now: now, SiteURL: "https://site.example/"}}, failed.Deploys...)
	if html := render(t, views.DeploysPanel(live)); !strings.Contains(html, `data-testid="site-link"`) || !strings.Contains(html, "2 MiB, 1 files") {
		t.Errorf("a live deploy's panel lacks View site or its size:\n%s", html)
	}
	refused := live
	refused.Message, refused.Error = "This bundle was refused: no index.html", true
	if html := render(t, views.DeploysPanel(refused)); strings.Contains(html, `data-testid="deploy-steps"`) || !strings.Contains(html, "This bundle was refused") {
		t.Errorf("a refused bundle still shows the previous deploy's steps:\n%s", html)
	}
	for _, tc := range []struct {
		ago  time.Duration
		want string
	}{{10 * time.Second, "just now"}, {3 * time.Minute, "3 min ago"}, {5 * time.Hour, "5 h ago"}, {30 * time.Hour, "yesterday"}, {4 * 24 * time.Hour, "4 days ago"}, {90 * 24 * time.Hour, "2026-09-01"}} {
		if got := views.Ago(now.Add(-tc.ago), now); got != tc.want {
			t.Errorf("Ago(%v) = %q, want %q", tc.ago, got, tc.want)
		}
	}
}

// TestEventSizesInOneUnit: history lines recorded as "N bytes" read in the
// units the rest of the page uses.
func TestEventSizesInOneUnit(t *testing.T) {
	t.Parallel()
	e := views.EventItem{Kind: models.EventDeployDone, Detail: "3 files, 130211 bytes"}
	if got := e.DetailText(); got != "3 files, 127.2 KiB" {
		t.Errorf("DetailText = %q", got)
	}
}

// TestPhoneHeaderMenu: below sm the account links are in a menu; the
// desktop row is hidden there.
func TestPhoneHeaderMenu(t *testing.T) {
	t.Parallel()
	html := render(t, views.Layout(views.Page{Title: "x", User: &views.User{Name: "Sam Support", Email: "sam@example.com"}, Support: true}))
	for _, want := range []string{`class="hidden items-center gap-4 sm:flex" data-testid="account"`, `<details class="relative sm:hidden" data-popover data-testid="account-menu"`,
		`data-testid="menu-support-link"`, `data-testid="menu-settings-link"`, `data-testid="menu-logout"`} {
		if !strings.Contains(html, want) {
			t.Errorf("the header lacks %q:\n%s", want, html)
		}
	}
}

// TestSettingsTokens: an empty state, a visible label for the token's
// name, and a revoke that asks first.
func TestSettingsTokens(t *testing.T) {
	t.Parallel()
	empty := render(t, views.Settings(views.SettingsView{}))
	if !strings.Contains(empty, `data-testid="tokens-empty"`) || !strings.Contains(empty, `<label for="token-name" class="w-full text-sm font-medium">`) {
		t.Errorf("settings without tokens lacks the empty state or the visible label:\n%s", empty)
	}
	html := render(t, views.Settings(views.SettingsView{Tokens: []views.TokenItem{{ID: "t1", Name: "Builder", Prefix: "cd_abc", CreatedAt: time.Now()}}}))
	toggle := strings.Index(html, `data-testid="revoke-token-toggle"`)
	confirm := strings.Index(html, `data-testid="revoke-token-confirm"`)
	submit := strings.Index(html, `data-testid="revoke-token"`)
	if toggle < 0 || confirm < toggle || submit < confirm || !strings.Contains(html, "Revoke <span class=\"font-medium\">Builder</span>?") {
		t.Errorf("revoking a token does not ask first:\n%s", html)
	}
}

// TestSupportShowsStepsInWords: the console says "Creating project", not
// creating_project.
func TestSupportShowsStepsInWords(t *testing.T) {
	t.Parallel()
	html := render(t, views.Support(views.SupportView{Rows: []views.SupportRow{{AppID: "a1", AppName: "A", State: models.StateConnecting, Step: models.StepCreating}}}))
	if !strings.Contains(html, "Creating project") || strings.Contains(html, "creating_project") {
		t.Errorf("the support console shows a raw step:\n%s", html)
	}
}
