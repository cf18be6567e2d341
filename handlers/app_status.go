package handlers

import (
	"net/http"
	"net/url"
	"time"

	"chefdeploy/models"
	"chefdeploy/views"
)

// appStatus renders the status fragment. It is what every connecting browser
// polls each second, so it is served from the status cache; only the last
// poll, the one that finds the state final, reads more.
func (s *Server) appStatus(w http.ResponseWriter, r *http.Request) {
	_, st, ok := s.ownedAppStatus(w, r)
	if !ok {
		return
	}
	v := s.statusView(st)
	if v.Polling() || r.URL.Query().Get(views.PollParam) == "" {
		s.render(w, r, http.StatusOK, st.Name, views.StatusFragment(v))
		return
	}
	// The poll that sees the connection turn final is the fragment's last:
	// it brings the rest of the page up to date.
	s.renderConnectionChange(w, r, st, v)
}

// statusView turns an app's status into the fragment's view model.
func (s *Server) statusView(st models.AppStatus) views.StatusView {
	v := views.StatusView{AppID: st.AppID, State: models.StateNone}
	c := st.Connection
	if c == nil {
		return v
	}
	now := time.Now()
	v.State = c.EffectiveState(now)
	v.Step = c.Step
	v.TeamSlug = c.TeamSlug
	v.Error = c.EffectiveError(now)
	v.Elapsed = now.Sub(c.StartedAt)
	v.Deadline = s.cfg.ConnectionDeadline
	if v.State == models.StateFailed && c.TeamSlug != "" {
		v.TeamDashboardURL = s.cfg.DashboardURL + "/t/" + url.PathEscape(c.TeamSlug)
	}
	if v.State == models.StateConnected {
		v.ProjectSlug = c.ProjectSlug
		v.DeploymentName = c.DeploymentName
		v.DeploymentURL = c.DeploymentURL
		v.DashboardURL = s.cfg.DashboardLink(c.DeploymentName)
		v.SiteURL = s.cfg.SiteLink(c.DeploymentName)
		v.Warning = c.Warning
		v.Env = &views.EnvView{AppID: st.AppID, DeploymentName: c.DeploymentName, DeploymentURL: c.DeploymentURL}
	}
	return v
}
