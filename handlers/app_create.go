package handlers

import (
	"net/http"

	"chefdeploy/models"
	"chefdeploy/views"
)

// appCreate makes a new app from the form's name and goes to its page.
func (s *Server) appCreate(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	form := models.AppForm{Name: r.PostFormValue("name")}
	if errs := form.Validate(); len(errs) > 0 {
		s.renderDashboard(w, r, sess, http.StatusUnprocessableEntity, views.NewAppForm{Name: form.Name, Errors: errs}, "")
		return
	}
	done, err := s.creating.take(r.Context(), sess.UserID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	defer done()
	app, err := models.CreateApp(r.Context(), s.db, sess.UserID, form.Name, s.cfg.MaxAppsPerUser)
	if models.ErrorCode(err) == models.EINVALID { // the user's app limit
		s.renderDashboard(w, r, sess, http.StatusUnprocessableEntity, views.NewAppForm{Name: form.Name, Errors: map[string]string{"name": models.ErrorMessage(err)}}, "")
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/apps/"+app.ID, http.StatusSeeOther)
}
