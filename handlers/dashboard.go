package handlers

import (
	"net/http"

	"chefdeploy/models"
	"chefdeploy/views"
)

// dashboard is the home page: the landing when signed out, the user's apps when signed in.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	sess := currentSession(r)
	if sess == nil {
		s.render(w, r, http.StatusOK, "Log in", views.Landing())
		return
	}
	s.renderDashboard(w, r, sess, http.StatusOK, views.NewAppForm{}, "")
}

func (s *Server) renderDashboard(w http.ResponseWriter, r *http.Request, sess *models.SessionWithUser, status int, form views.NewAppForm, notice string) {
	apps, err := models.ListApps(r.Context(), s.db, sess.UserID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := views.DashboardView{User: views.User{Name: sess.User.Name, Email: sess.User.Email}, Form: form, Notice: notice}
	for _, a := range apps {
		item := views.AppListItem{ID: a.ID, Slug: a.Slug, Name: a.Name, State: models.StateNone, Deployed: a.LastDeployedAt.Valid}
		if a.State.Valid {
			c := models.Connection{State: a.State.String, DeadlineAt: a.DeadlineAt.Time}
			item.State = c.EffectiveState(timeNow())
			item.TeamSlug = a.TeamSlug.String
			if item.State == models.StateConnected {
				item.ProjectSlug = a.ProjectSlug.String
				item.SiteURL = s.cfg.SiteLink(a.DeploymentName.String)
			}
		}
		v.Apps = append(v.Apps, item)
	}
	s.render(w, r, status, "Your apps", views.Dashboard(v))
}
