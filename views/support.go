package views

import (
	"fmt"
	"net/url"
	"time"
)

// SupportView is the support console's listing.
type SupportView struct {
	Rows   []SupportRow
	Stuck  []SupportRow
	State  string
	Team   string
	Query  string
	States []string
	// Next is the cursor of the next page, "" on the last.
	Next  string
	Error string
}

// NextURL keeps the filters and moves to the next page.
func (v SupportView) NextURL() string {
	q := url.Values{}
	for k, val := range map[string]string{"state": v.State, "team": v.Team, "q": v.Query, "after": v.Next} {
		if val != "" {
			q.Set(k, val)
		}
	}
	return "/support?" + q.Encode()
}

// SupportRow is one app in the console; it carries no credential.
type SupportRow struct {
	AppID       string
	AppName     string
	OwnerEmail  string
	State       string
	Step        string
	TeamSlug    string
	ProjectSlug string
	Error       string
	InState     time.Duration
	LastDeploy  string
	Stuck       bool
}

// URL opens the read-only detail view.
func (r SupportRow) URL() string { return "/support/apps/" + r.AppID }

// StepLabel is the connection's step in words.
func (r SupportRow) StepLabel() string { return stepWords(r.Step) }

// StateLabel is the state in words.
func (r SupportRow) StateLabel() string { return stateLabel(r.State) }

// StateClasses colour the state badge.
func (r SupportRow) StateClasses() string { return stateClasses(r.State) }

// InStateLabel is the time in the current state for people.
func (r SupportRow) InStateLabel() string { return humanDuration(r.InState) }

func humanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// SupportAppView is the read-only detail view of one app.
type SupportAppView struct {
	Row            SupportRow
	DeploymentName string
	Attempt        int64
	Events         []EventItem
	// CanFail is true while the connection is connecting (stuck or not).
	CanFail bool
	Notice  string
	Error   string
}

// FailURL is where support marks a stuck connection failed.
func (v SupportAppView) FailURL() string { return "/support/apps/" + v.Row.AppID + "/fail" }

// SupportEventsView is the whole audit trail, newest first.
type SupportEventsView struct {
	Events []EventItem
	// Before is the id to continue from; 0 on the last page.
	Before int64
}

// NextURL is the next (older) page.
func (v SupportEventsView) NextURL() string {
	return fmt.Sprintf("/support/events?before=%d", v.Before)
}
