package views

import "strings"

// ProjectDashboardView is an app's project dashboard page.
type ProjectDashboardView struct {
	AppID          string
	AppName        string
	TeamSlug       string
	ProjectSlug    string
	DeploymentName string
	DeploymentURL  string
	DashboardURL   string
	// EmbedURL is the Convex dashboard page framed in the page, Page its
	// name; EmbedOrigin is the only origin the page's script will send
	// credentials to.
	EmbedURL    string
	EmbedOrigin string
	Page        string
	SiteURL     string
	Env         EnvVarsView
}

// EnvVarsView is the list of environment variables chefdeploy manages.
type EnvVarsView struct {
	AppID   string
	Vars    []EnvVarItem
	Message string
	Error   bool
	// Name is the name the person typed, kept in the form when the change
	// was refused. The value is not sent back: it may be a secret.
	Name string
}

// URL is where the set and unset forms post.
func (v EnvVarsView) URL() string { return "/apps/" + v.AppID + "/env" }

// EnvVarItem is one managed variable; its value is never shown.
type EnvVarItem struct {
	Name string
	// State is "set", "unset" or "unknown" (the deployment did not answer).
	State string
}

// DashboardPages are the framed dashboard's pages (CONTRACT §2.4), in the
// switcher's order; the first is the default.
var DashboardPages = []string{"data", "functions", "files", "logs", "history", "settings"}

// DashboardPage is raw when it names one of DashboardPages, else the
// default: a page from the URL is never framed or shown unchecked.
func DashboardPage(raw string) string {
	for _, p := range DashboardPages {
		if raw == p {
			return p
		}
	}
	return DashboardPages[0]
}

// DashboardPageLink is one entry of the page switcher.
type DashboardPageLink struct {
	Name    string
	Label   string
	URL     string
	Current bool
}

// PageLinks is the switcher: every page, the framed one marked current.
func (v ProjectDashboardView) PageLinks() []DashboardPageLink {
	links := make([]DashboardPageLink, 0, len(DashboardPages))
	for _, p := range DashboardPages {
		links = append(links, DashboardPageLink{
			Name:    p,
			Label:   strings.ToUpper(p[:1]) + p[1:],
			URL:     "/apps/" + v.AppID + "/dashboard?page=" + p,
			Current: p == v.Page,
		})
	}
	return links
}
