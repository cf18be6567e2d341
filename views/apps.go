package views

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"chefdeploy/bundle"
	"chefdeploy/models"
)

// AppListItem is one row of the dashboard's app list.
type AppListItem struct {
	ID          string
	Slug        string
	Name        string
	State       string
	TeamSlug    string
	ProjectSlug string
	Deployed    bool
	SiteURL     string
}

// URL is the app's page.
func (a AppListItem) URL() string { return "/apps/" + a.ID }

// StateLabel is the state in words.
func (a AppListItem) StateLabel() string { return stateLabel(a.State) }

// StateClasses colour the state badge.
func (a AppListItem) StateClasses() string { return stateClasses(a.State) }

func stateLabel(state string) string {
	switch state {
	case models.StateConnecting:
		return "Connecting"
	case models.StateConnected:
		return "Connected"
	case models.StateFailed:
		return "Failed"
	}
	return "Not connected"
}

func stateClasses(state string) string {
	base := "inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset "
	switch state {
	case models.StateConnecting:
		return base + "bg-sky-50 text-sky-700 ring-sky-600/20"
	case models.StateConnected:
		return base + "bg-emerald-50 text-emerald-700 ring-emerald-600/20"
	case models.StateFailed:
		return base + "bg-red-50 text-red-700 ring-red-600/20"
	}
	return base + "bg-slate-50 text-slate-600 ring-slate-500/20"
}

// NewAppForm is the create-app form with its messages.
type NewAppForm struct {
	Name   string
	Errors map[string]string
}

// DashboardView is the signed-in home page.
type DashboardView struct {
	User User
	Apps []AppListItem
	Form NewAppForm
	// Notice reports the outcome of the last action, e.g. a deletion.
	Notice string
}

// Step is one line of the provisioning progress.
type Step struct {
	Label string
	// Status is "done", "active" or "pending".
	Status string
}

// StatusView is the status fragment: the app's connection panel.
type StatusView struct {
	AppID          string
	State          string
	Step           string
	TeamSlug       string
	ProjectSlug    string
	DeploymentName string
	DeploymentURL  string
	DashboardURL   string
	SiteURL        string
	Warning        string
	Error          string
	// Notice is a one-time message, e.g. after a disconnect.
	Notice string
	// FormError is a message about the submitted connect form, and
	// FormAction the action that fixes it, if any.
	FormError  string
	FormAction *Link
	// Env is set when connected.
	Env *EnvView
	// Elapsed is how long the attempt has been running.
	Elapsed time.Duration
	// Reconnecting is set while the connection cannot be read (the database
	// is unreachable): the panel says so and keeps polling until it can.
	Reconnecting bool
	// Deadline is how long a connection may stay connecting
	// (CHECK_CONNECTION_DEADLINE); zero means the default, 15 s.
	Deadline time.Duration
	// TeamDashboardURL is the team's page in the Convex dashboard, for a
	// failure the team's owner must fix there.
	TeamDashboardURL string
}

// SlowAfter is how long a connection may take before the panel says that
// Convex is slow to answer.
const SlowAfter = 5 * time.Second

// StepLabel is the current step in words.
func (v StatusView) StepLabel() string { return stepWords(v.Step) }

// stepWords is a provisioning step in words: "Creating project", not
// creating_project.
func stepWords(step string) string {
	switch step {
	case models.StepCreating:
		return "Creating project"
	case models.StepAuthorizing:
		return "Authorizing"
	case models.StepEnvironment:
		return "Configuring environment"
	case "", models.StepQueued:
		return "Waiting to start"
	}
	return step
}

// ElapsedLabel is how long the attempt has run, in whole seconds.
func (v StatusView) ElapsedLabel() string { return wholeSeconds(v.Elapsed.Truncate(time.Second)) }

// Slow is true once the attempt has taken longer than SlowAfter.
func (v StatusView) Slow() bool { return v.Elapsed >= SlowAfter }

// SlowMessage says why the attempt is taking long, and for how long more.
func (v StatusView) SlowMessage() string {
	return "Convex is slow to answer; we wait up to " + wholeSeconds(v.deadline()) + "."
}

// Announcement is what the page's live region says when the panel changes
// state; it stays the same while the state does, so it is said once.
func (v StatusView) Announcement() string {
	switch {
	case v.Reconnecting:
		return "Reconnecting to chefdeploy's database."
	case v.State == models.StateConnecting:
		return "Connecting to Convex: " + v.StepLabel() + "."
	case v.State == models.StateConnected:
		return "Connected to Convex project " + v.ProjectSlug + "."
	case v.State == models.StateFailed:
		if f := v.Failure(); f.Kind != FailureOther {
			return "Could not connect to Convex. " + f.Title + "."
		}
		return "Could not connect to Convex."
	}
	return ""
}

// ReconnectingStatus is the panel of a connecting app whose state cannot be
// read right now: it keeps polling, more slowly, until the state is back.
func ReconnectingStatus(appID string) StatusView {
	return StatusView{AppID: appID, State: models.StateConnecting, Reconnecting: true}
}

// PollTrigger is the fragment's hx-trigger while it polls.
func (v StatusView) PollTrigger() string {
	if v.Reconnecting {
		return "every " + itoa(int(ReconnectInterval/time.Second)) + "s"
	}
	return "every 1s"
}

// ReconnectInterval is how often a reconnecting panel polls; the 503 that
// carries it says the same in Retry-After.
const ReconnectInterval = 2 * time.Second

// StatusURL is what the fragment polls.
func (v StatusView) StatusURL() string { return "/apps/" + v.AppID + "/status" }

// ConnectURL is where the connect form posts.
func (v StatusView) ConnectURL() string { return "/apps/" + v.AppID + "/connect" }

// TeamsURL loads the team selector.
func (v StatusView) TeamsURL() string { return "/apps/" + v.AppID + "/teams" }

// DisconnectURL is where the disconnect form posts.
func (v StatusView) DisconnectURL() string { return "/apps/" + v.AppID + "/disconnect" }

// Polling is true while the fragment must refresh itself.
func (v StatusView) Polling() bool { return v.State == models.StateConnecting }

// PollValues go with each poll (hx-vals): a poll that finds the connection
// final is answered with the rest of the app's page that changed with it.
func (v StatusView) PollValues() string { return `{"` + PollParam + `":"1"}` }

// PollParam marks a request as the status fragment's own poll.
const PollParam = "poll"

// CanConnect is true when the connect form is shown.
func (v StatusView) CanConnect() bool {
	return v.State == models.StateNone || v.State == models.StateFailed
}

// StateLabel is the state in words.
func (v StatusView) StateLabel() string { return stateLabel(v.State) }

// StateClasses colour the state badge.
func (v StatusView) StateClasses() string { return stateClasses(v.State) }

// Steps are the provisioning steps with their progress.
func (v StatusView) Steps() []Step {
	order := []struct{ key, label string }{
		{models.StepCreating, "Creating project"},
		{models.StepAuthorizing, "Authorizing"},
		{models.StepEnvironment, "Configuring environment"},
	}
	current := -1
	for i, s := range order {
		if s.key == v.Step {
			current = i
		}
	}
	steps := make([]Step, 0, len(order)+1)
	for i, s := range order {
		status := "pending"
		switch {
		case i < current:
			status = "done"
		case i == current:
			status = "active"
		}
		steps = append(steps, Step{Label: s.label, Status: status})
	}
	return append(steps, Step{Label: "Connected", Status: "pending"})
}

// ProgressPercent is how far along the attempt is, for the progress bar.
func (v StatusView) ProgressPercent() int {
	switch v.Step {
	case models.StepCreating:
		return 25
	case models.StepAuthorizing:
		return 55
	case models.StepEnvironment:
		return 80
	}
	return 8
}

// ProgressClass is the progress bar's width, one class per step, matching
// ProgressPercent: a fixed set of classes because the CSP forbids inline styles.
func (v StatusView) ProgressClass() string {
	switch v.ProgressPercent() {
	case 25:
		return "w-1/4"
	case 55:
		return "w-[55%]"
	case 80:
		return "w-4/5"
	}
	return "w-[8%]"
}

// TeamSelectorView is the team selector with the Connect button.
type TeamSelectorView struct {
	AppID    string
	Teams    []TeamOption
	Selected string
	Error    string
	// Label is the Connect button's text.
	Label string
	// AuthorizeURL, where teams are added by authorizing them (platform
	// mode), starts that and comes back to the app.
	AuthorizeURL string
	// Revoked are teams whose grant Convex no longer accepts; each offers
	// to authorize it again.
	Revoked []TeamOption
}

// TeamOption is one team in the selector.
type TeamOption struct {
	Slug string
	Name string
	// AuthorizeURL authorizes the team (again).
	AuthorizeURL string
}

// Label is the team as the selector shows it: the name, and the slug when
// it differs.
func (t TeamOption) Label() string {
	if t.Name == "" || t.Name == t.Slug {
		return t.Slug
	}
	return t.Name + " (" + t.Slug + ")"
}

// Link is an action offered with a message.
type Link struct {
	URL  string
	Text string
}

// TeamsURL reloads the selector.
func (v TeamSelectorView) TeamsURL() string { return "/apps/" + v.AppID + "/teams" }

// CanSubmit is true when a team is chosen.
func (v TeamSelectorView) CanSubmit() bool { return v.Selected != "" }

// EnvView is the .env.local setup for a connected app.
type EnvView struct {
	AppID          string
	DeploymentName string
	DeploymentURL  string
	// DeployKey is empty until the owner reveals it.
	DeployKey string
}

// Revealed is true when the deploy key is shown.
func (v EnvView) Revealed() bool { return v.DeployKey != "" }

// RevealURL is where the reveal button posts.
func (v EnvView) RevealURL() string { return "/apps/" + v.AppID + "/deploy-key" }

// copyReveal makes Copy reveal the key (the audited call) before copying,
// while it is masked: the masked bullets are never copied.
func (v EnvView) copyReveal() templ.Attributes {
	if v.Revealed() {
		return nil
	}
	return templ.Attributes{"data-copy-reveal-url": v.RevealURL(), "data-copy-reveal-target": "#env-" + v.AppID}
}

// Lines are the .env.local lines, with the key masked unless revealed.
func (v EnvView) Lines() []string {
	key := "••••••••••••••••••••"
	if v.Revealed() {
		key = v.DeployKey
	}
	return []string{
		"CONVEX_DEPLOYMENT=dev:" + v.DeploymentName,
		"VITE_CONVEX_URL=" + v.DeploymentURL,
		"CONVEX_DEPLOY_KEY=" + key,
	}
}

// AppPageView is the app's page.
type AppPageView struct {
	ID     string
	Name   string
	Slug   string
	Status StatusView
	Events []EventItem
	// Errors of the rename form.
	RenameError string
	// ProjectName is "team/project" when the app has a Convex project.
	ProjectName string
	// SuggestedName is set when an older app of the owner has this app's
	// name: a free name to rename it to.
	SuggestedName string
}

// URL is the app's page.
func (v AppPageView) URL() string { return "/apps/" + v.ID }

// outOfBand marks an element for an HTMX out-of-band swap when oob is set.
func outOfBand(oob bool) templ.Attributes {
	if oob {
		return templ.Attributes{"hx-swap-oob": "true"}
	}
	return nil
}

// EventItem is one line of the app's history.
type EventItem struct {
	Kind   string
	Detail string
	At     time.Time
	// Actor is who acted; "" for the system.
	Actor string
	// AppURL links the app the event concerns, where the list spans apps.
	AppURL string
}

// When is the event's time, for people.
func (e EventItem) When() string { return e.At.UTC().Format("2006-01-02 15:04:05 UTC") }

// DetailText is the event's detail for people, its byte counts ("130211
// bytes", as deploy events record them) in the units every page uses.
func (e EventItem) DetailText() string {
	return byteCount.ReplaceAllStringFunc(e.Detail, func(m string) string {
		n, err := strconv.ParseInt(strings.TrimSuffix(m, " bytes"), 10, 64)
		if err != nil {
			return m
		}
		return bundle.FormatBytes(n)
	})
}

var byteCount = regexp.MustCompile(`\b[0-9]+ bytes\b`)

// Label is the event kind in words.
func (e EventItem) Label() string {
	if l, ok := eventLabels[e.Kind]; ok {
		return l
	}
	return e.Kind
}

// eventLabels are the audit trail's event kinds in words.
var eventLabels = map[string]string{
	models.EventAppCreated:       "App created",
	models.EventAppRenamed:       "App renamed",
	models.EventConnectStarted:   "Connect started",
	models.EventConnectSucceeded: "Connected",
	models.EventConnectFailed:    "Connect failed",
	models.EventDeadlineFired:    "Connect timed out",
	models.EventDisconnected:     "Disconnected",
	models.EventKeyRevealed:      "Deploy key revealed",
	models.EventAppDeleted:       "App deleted",
	models.EventDeployStarted:    "Deploy started",
	models.EventDeployDone:       "Deployed",
	models.EventDeployFailed:     "Deploy failed",
	models.EventRollback:         "Rolled back",
	models.EventEnvVarChanged:    "Environment variable changed",
	models.EventSupportViewed:    "Viewed by support",
	models.EventSupportFailed:    "Marked failed by support",
	models.EventLogin:            "Signed in",
	models.EventLogout:           "Signed out",
	models.EventTokenCreated:     "API token created",
	models.EventTokenRevoked:     "API token revoked",
	models.EventRoleGranted:      "Role granted",
	models.EventRoleRevoked:      "Role revoked",
}

// Seconds formats an elapsed time for the progress line.
func Seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// teamsLoadURL loads the connect form's team selector; after a failure the
// same team would repeat, it asks not to preselect that team.
func (v StatusView) teamsLoadURL(label string) string {
	u := teamsURL(v.AppID, label)
	if label == ChooseAnotherTeam && v.TeamSlug != "" {
		u += "&avoid=" + url.QueryEscape(v.TeamSlug)
	}
	return u
}

// teamsURL loads the team selector with the Connect button labelled label.
func teamsURL(appID, label string) string {
	return "/apps/" + appID + "/teams?label=" + url.QueryEscape(label)
}
