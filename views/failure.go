package views

import (
	"net/url"
	"strings"
	"time"
)

// Failure kinds: what went wrong with a connection, read from the contract's
// message (CONTRACT §2.1, §2.2), which is stored as the connection's error.
const (
	FailureQuota   = "quota"
	FailureSSO     = "sso"
	FailureRevoked = "revoked"
	FailureTimeout = "timeout"
	FailureExpired = "expired"
	FailureRole    = "role"
	FailureOther   = "other"
)

// Failure is a failed connection in words: a plain title, one next step,
// and the contract's exact message, which stays visible under "Details"
// because support and scripts read it.
type Failure struct {
	Kind  string
	Title string
	// Action is the one next step. ActionURL is empty when the step is the
	// connect form itself (try again, or choose another team), which the
	// panel shows with ActionLabel as its button.
	ActionLabel string
	ActionURL   string
	// SecondLabel and SecondURL are an optional second link (quota: open
	// the team in Convex).
	SecondLabel string
	SecondURL   string
	Message     string
}

// Retry is true when the next step is the connect form with the same team.
func (f Failure) Retry() bool { return f.ActionURL == "" && f.ActionLabel != ChooseAnotherTeam }

// ChooseAnotherTeam is the connect button's label after a failure that the
// same team would repeat.
const ChooseAnotherTeam = "Choose another team"

// Failure classifies the connection's stored error.
func (v StatusView) Failure() Failure {
	msg := v.Error
	f := Failure{Kind: FailureOther, Title: "Could not connect to Convex", ActionLabel: "Try again", Message: msg}
	back := url.QueryEscape("/apps/" + v.AppID)
	switch {
	case strings.Contains(msg, "ProjectQuotaReached"):
		f.Kind, f.Title, f.ActionLabel = FailureQuota, "Team "+v.TeamSlug+" has no room for another project", ChooseAnotherTeam
		if v.TeamDashboardURL != "" {
			f.SecondLabel, f.SecondURL = "Open team in Convex", v.TeamDashboardURL
		}
	case strings.Contains(msg, "SSORequired") || strings.Contains(msg, "Single Sign-on"):
		f.Kind, f.Title = FailureSSO, "Team "+v.TeamSlug+" requires single sign-on"
		f.ActionLabel, f.ActionURL = "Sign in with SSO", "/auth/login?reauth=1&return="+back
	case strings.HasPrefix(msg, "Convex no longer accepts your authorization"):
		f.Kind, f.Title = FailureRevoked, "Convex no longer accepts your authorization for team "+v.TeamSlug
		f.ActionLabel = "Authorize again"
		f.ActionURL = "/teams/authorize?team=" + url.QueryEscape(v.TeamSlug) + "&return=" + back
	case strings.HasPrefix(msg, "Your sign-in has expired"):
		f.Kind, f.Title = FailureExpired, "Your sign-in has expired"
		f.ActionLabel, f.ActionURL = "Sign in again", "/auth/login?reauth=1&return="+back
	case strings.HasPrefix(msg, "Your Convex role on"):
		f.Kind, f.Title, f.ActionLabel = FailureRole, "Your role on team "+v.TeamSlug+" cannot create projects", ChooseAnotherTeam
	case msg == "Failed to connect to project":
		f.Kind, f.Title = FailureTimeout, "Convex didn't answer in "+wholeSeconds(v.deadline())
	}
	return f
}

// deadline is how long a connection may stay connecting
// (CHECK_CONNECTION_DEADLINE), 15 s unless the page says otherwise.
func (v StatusView) deadline() time.Duration {
	if v.Deadline > 0 {
		return v.Deadline
	}
	return 15 * time.Second
}

// wholeSeconds is d as "15 s".
func wholeSeconds(d time.Duration) string { return itoa(int(d.Round(time.Second)/time.Second)) + " s" }
