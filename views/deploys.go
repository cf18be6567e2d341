package views

import (
	"fmt"
	"time"

	"chefdeploy/bundle"
	"chefdeploy/models"
)

// DeploysView is the deploy panel of a connected app.
type DeploysView struct {
	AppID   string
	SiteURL string
	MaxMB   int64
	Deploys []DeployItem
	// Message is the outcome of the last action; Error tells how to show it.
	Message string
	Error   bool
}

// URL is the panel's own address (and where the form posts).
func (v DeploysView) URL() string { return "/apps/" + v.AppID + "/deploys" }

// Polling is true while a deploy is uploading.
func (v DeploysView) Polling() bool {
	return len(v.Deploys) > 0 && v.Deploys[0].Status == models.DeployUploading
}

// HasLive is true once a deploy is live: before, the site is a bare 404.
func (v DeploysView) HasLive() bool {
	for _, d := range v.Deploys {
		if d.Status == models.DeployLive {
			return true
		}
	}
	return false
}

// Announcement is what the page's live region says about the panel: the
// outcome of the last action, or the newest deploy's state.
func (v DeploysView) Announcement() string {
	if v.Message != "" {
		return v.Message
	}
	latest, ok := v.Latest()
	if !ok {
		return ""
	}
	switch latest.Status {
	case models.DeployLive:
		return "The deploy is live."
	case models.DeployFailed:
		return "The deploy failed."
	case models.DeployUploading:
		return "Deploying…"
	}
	return ""
}

// Latest is the newest deploy, if any.
func (v DeploysView) Latest() (DeployItem, bool) {
	if len(v.Deploys) == 0 {
		return DeployItem{}, false
	}
	return v.Deploys[0], true
}

// DeployItem is one row of the deploy history.
type DeployItem struct {
	ID          string
	AppID       string
	Status      string
	Error       string
	By          string
	At          time.Time
	Bytes       int64
	Files       int
	Duration    time.Duration
	SiteURL     string
	Rollback    bool
	CanRollBack bool
	// Now is the time the page is rendered at, for relative times; zero
	// means the clock's.
	Now time.Time
	// Live marks the deploy the app's site serves now.
	Live bool
}

// NoteClasses colour the deploy's message: an error, or why it was superseded.
func (d DeployItem) NoteClasses() string {
	if d.Status == models.DeploySuperseded {
		return "mt-1 text-xs text-slate-500"
	}
	return "mt-1 text-xs text-red-700"
}

// When is the deploy's time for people.
func (d DeployItem) When() string { return d.At.UTC().Format("2006-01-02 15:04 UTC") }

// Ago is the deploy's time relative to now: "3 min ago".
func (d DeployItem) Ago() string {
	now := d.Now
	if now.IsZero() {
		now = time.Now()
	}
	return Ago(d.At, now)
}

// Ago says how long before now t was, for people: "just now", "3 min ago",
// "2 h ago", "5 days ago"; past a month, the date.
func Ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return itoa(int(d/time.Minute)) + " min ago"
	case d < 24*time.Hour:
		return itoa(int(d/time.Hour)) + " h ago"
	case d < 48*time.Hour:
		return "yesterday"
	case d < 30*24*time.Hour:
		return itoa(int(d/(24*time.Hour))) + " days ago"
	}
	return t.UTC().Format("2006-01-02")
}

// Size is the bundle size for people, in the unit every page uses.
func (d DeployItem) Size() string { return bundle.FormatBytes(d.Bytes) }

// Took is the deploy's duration for people.
func (d DeployItem) Took() string {
	if d.Duration < time.Second {
		return fmt.Sprintf("%d ms", d.Duration.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Duration.Seconds())
}

// RollbackURL redeploys this deploy's bundle.
func (d DeployItem) RollbackURL() string {
	return "/apps/" + d.AppID + "/deploys/" + d.ID + "/rollback"
}

// StatusClasses colour the status badge.
func (d DeployItem) StatusClasses() string {
	base := "inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset "
	switch d.Status {
	case models.DeployLive:
		return base + "bg-emerald-50 text-emerald-700 ring-emerald-600/20"
	case models.DeployFailed:
		return base + "bg-red-50 text-red-700 ring-red-600/20"
	case models.DeploySuperseded:
		return base + "bg-slate-50 text-slate-600 ring-slate-500/20"
	}
	return base + "bg-sky-50 text-sky-700 ring-sky-600/20"
}

// Steps are the deploy's progress: validating, publishing, live or failed.
// They name no host: Convex hosts the site in builder mode, chefdeploy's
// sites listener in platform mode.
func (d DeployItem) Steps() []Step {
	switch d.Status {
	case models.DeployLive:
		return []Step{{"Validated", "done"}, {"Published", "done"}, {"Live", "done"}}
	case models.DeployFailed:
		return []Step{{"Validated", "done"}, {"Publishing failed", "failed"}}
	case models.DeploySuperseded:
		return []Step{{"Validated", "done"}, {"Superseded by a newer deploy", "done"}}
	}
	return []Step{{"Validated", "done"}, {"Publishing the site", "active"}, {"Live", "pending"}}
}
