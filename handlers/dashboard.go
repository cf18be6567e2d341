package handlers

import (
	"net/http"

	"chefdeploy/views"
)

// dashboard is the home page: the landing when signed out, the user's apps when signed in.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	sess := currentSession(r)
	if sess == nil {
		s.render(w, r, http.StatusOK, "Log in", views.Landing())
		return
	}
	s.render(w, r, http.StatusOK, "Your apps", views.Dashboard(views.User{Name: sess.User.Name, Email: sess.User.Email}))
}
