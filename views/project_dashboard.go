package views

// ProjectDashboardView is an app's project dashboard page.
type ProjectDashboardView struct {
	AppID          string
	AppName        string
	TeamSlug       string
	ProjectSlug    string
	DeploymentName string
	DeploymentURL  string
	DashboardURL   string
	// EmbedURL is the Convex dashboard framed in the page; EmbedOrigin is the
	// only origin the page's script will send credentials to.
	EmbedURL    string
	EmbedOrigin string
	SiteURL     string
	Env         EnvVarsView
}

// EnvVarsView is the list of environment variables chefdeploy manages.
type EnvVarsView struct {
	AppID   string
	Vars    []EnvVarItem
	Message string
	Error   bool
}

// URL is where the set and unset forms post.
func (v EnvVarsView) URL() string { return "/apps/" + v.AppID + "/env" }

// EnvVarItem is one managed variable; its value is never shown.
type EnvVarItem struct {
	Name string
	// State is "set", "unset" or "unknown" (the deployment did not answer).
	State string
}
