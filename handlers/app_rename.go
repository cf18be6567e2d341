package handlers

import (
	"net/http"

	"chefdeploy/models"
)

// appRename changes the app's name; its slug and links stay.
func (s *Server) appRename(w http.ResponseWriter, r *http.Request) {
	sess, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	form := models.AppForm{Name: r.PostFormValue("name")}
	if errs := form.Validate(); len(errs) > 0 {
		s.renderAppPage(w, r, app, http.StatusUnprocessableEntity, errs["name"])
		return
	}
	if err := models.RenameApp(r.Context(), s.db, sess.UserID, app.ID, form.Name); err != nil {
		s.renderError(w, r, err)
		return
	}
	// This replica's copy goes now; the others' when the notification of
	// the change reaches them. The page the redirect leads to shows the new
	// name either way on this replica.
	s.statuses.Invalidate(app.ID)
	http.Redirect(w, r, "/apps/"+app.ID, http.StatusSeeOther)
}
