package views

import (
	"net/url"
	"strconv"
	"time"
)

// SettingsView is the settings page: the user's Convex team grants and API
// tokens.
type SettingsView struct {
	TeamGrants []TeamGrantItem
	Tokens     []TokenItem
	// NewToken is shown once, right after it was created.
	NewToken  string
	FormError string
	Notice    string
}

// TokenItem is one API token as the settings page lists it.
type TokenItem struct {
	ID        string
	Name      string
	Prefix    string
	CreatedAt time.Time
	LastUsed  *time.Time
	Revoked   bool
}

// Created is the creation time for people.
func (t TokenItem) Created() string { return t.CreatedAt.UTC().Format("2006-01-02 15:04 UTC") }

// Used is the last use for people.
func (t TokenItem) Used() string {
	if t.LastUsed == nil {
		return "never"
	}
	return t.LastUsed.UTC().Format("2006-01-02 15:04 UTC")
}

// RevokeURL is where the revoke button posts.
func (t TokenItem) RevokeURL() string { return "/settings/tokens/" + t.ID + "/revoke" }

// TeamGrantItem is one authorized Convex team as the settings page lists
// it; never its token.
type TeamGrantItem struct {
	TeamID       int64
	Slug         string
	AuthorizedAt time.Time
	Revoked      bool
}

// Authorized is when the team was last authorized, for people.
func (g TeamGrantItem) Authorized() string {
	return g.AuthorizedAt.UTC().Format("2006-01-02 15:04 UTC")
}

// ForgetURL is where the Forget button posts.
func (g TeamGrantItem) ForgetURL() string {
	return "/teams/" + strconv.FormatInt(g.TeamID, 10) + "/forget"
}

// ReauthorizeURL authorizes the team again, preselected, and comes back here.
func (g TeamGrantItem) ReauthorizeURL() string {
	return "/teams/authorize?team=" + url.QueryEscape(g.Slug) + "&return=/settings"
}

// RevokedAttr is the row's data-revoked.
func (g TeamGrantItem) RevokedAttr() string { return strconv.FormatBool(g.Revoked) }

// AuthorizeTeamURL authorizes another team and comes back to the settings.
const AuthorizeTeamURL = "/teams/authorize?return=/settings"

// UsageView is a team's token usage meter.
type UsageView struct {
	AppID    string
	TeamSlug string
	Used     int64
	Quota    int64
	Disabled bool
	PaidPlan bool
	Error    string
	// Unavailable says why there is no meter (platform mode).
	Unavailable string
}

// URL refreshes the meter.
func (v UsageView) URL() string { return "/apps/" + v.AppID + "/usage" }

// Percent is the share of the quota used, 0–100.
func (v UsageView) Percent() int64 {
	if v.Quota <= 0 {
		return 0
	}
	return min(100, v.Used*100/v.Quota)
}

// Tokens renders centitokens as tokens.
func Tokens(centitokens int64) string {
	return formatThousands(centitokens / 100)
}

func formatThousands(n int64) string {
	s := itoa(int(n))
	if n < 0 {
		return s
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
