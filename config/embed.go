package config

import (
	"errors"
	"net/url"
	"strings"
)

// DefaultDashboardEmbedURL is Convex's embeddable dashboard (CONTRACT §2.4):
// dashboard.convex.dev refuses to be framed, this build does not.
const DefaultDashboardEmbedURL = "https://dashboard-embedded.convex.dev"

// SandboxDashboardEmbedPath is where the sandbox serves its embeddable
// dashboard, under SandboxPath.
const SandboxDashboardEmbedPath = "/dashboard-embedded"

// DashboardEmbedPage is the framed dashboard's page: one of the pages the
// project page offers, checked by the caller.
func (c *Config) DashboardEmbedPage(page string) string {
	return c.DashboardEmbedURL + "/" + url.PathEscape(page)
}

// dashboardEmbedURL reads CONVEX_DASHBOARD_EMBED_URL, whose default is def:
// an absolute http(s) URL without query or fragment, since pages are
// appended to it as path segments.
func dashboardEmbedURL(raw, def string) (string, error) {
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
		return "", errors.New("CONVEX_DASHBOARD_EMBED_URL must be an absolute http(s) URL without a query or fragment")
	}
	return strings.TrimRight(raw, "/"), nil
}
