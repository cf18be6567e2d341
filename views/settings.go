package views

import "time"

// SettingsView is the settings page: the user's API tokens.
type SettingsView struct {
	Tokens []TokenItem
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

// UsageView is a team's token usage meter.
type UsageView struct {
	AppID    string
	TeamSlug string
	Used     int64
	Quota    int64
	Disabled bool
	PaidPlan bool
	Error    string
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
