package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"chefdeploy/convex"
	"chefdeploy/jobs"
	"chefdeploy/models"
	"chefdeploy/views"
)

// appDelete removes the app, its connection and its stored credentials. When
// asked, it also deletes the app's Convex projects; if that fails the app is
// deleted anyway and the person is told exactly what was left behind.
func (s *Server) appDelete(w http.ResponseWriter, r *http.Request) {
	sess, app, ok := s.ownedApp(w, r)
	if !ok {
		return
	}
	// Checked before any project is deleted; DeleteApp checks again.
	if c, err := models.ConnectionByApp(r.Context(), s.db, app.ID); err == nil && c.State == models.StateConnecting {
		s.renderError(w, r, models.ErrAppConnecting)
		return
	} else if err != nil && !errors.Is(err, models.ErrNotFound) {
		s.renderError(w, r, err)
		return
	}
	var notice string
	if r.PostFormValue("delete_project") == "1" {
		notice = s.deleteProjects(r, sess, app)
	}
	if err := models.DeleteApp(r.Context(), s.db, sess.UserID, app.ID); err != nil {
		s.renderError(w, r, err)
		return
	}
	// Projects the app's attempts left unused are deleted whatever was
	// ticked: they were never the user's to keep.
	if err := s.connections.RequestReconcile(r.Context(), app.ID); err != nil {
		s.log.Warn("queueing the reconcile of a deleted app", "app_id", app.ID, "err", err)
	}
	if notice == "" {
		notice = "Deleted " + app.Name + "."
	}
	if isFragmentRequest(r) {
		// The answer replaces the page with the dashboard, at its own URL.
		w.Header().Set("HX-Retarget", "#main")
		w.Header().Set("HX-Reswap", "innerHTML")
		w.Header().Set("HX-Push-Url", "/")
	}
	s.renderDashboard(w, r, sess, http.StatusOK, views.NewAppForm{}, notice)
}

// deleteProjects deletes the Convex projects chefdeploy made for the app: the
// connected one and any unused ones. It returns what to tell the person.
func (s *Server) deleteProjects(r *http.Request, sess *models.SessionWithUser, app models.App) string {
	type target struct {
		id         int64
		team, slug string
	}
	var targets []target
	if c, err := models.ConnectionByApp(r.Context(), s.db, app.ID); err == nil && c.ProjectID != 0 {
		targets = append(targets, target{c.ProjectID, c.TeamSlug, c.ProjectSlug})
	}
	open, _ := models.OpenAttempts(r.Context(), s.db, app.ID)
	for _, a := range open {
		if a.Status == models.AttemptCreated && a.ProjectID != 0 {
			targets = append(targets, target{a.ProjectID, a.TeamSlug, a.ProjectSlug})
		}
	}
	if len(targets) == 0 {
		return "Deleted " + app.Name + ". It had no Convex project to delete."
	}
	var deleted, left []string
	for _, t := range targets {
		name := t.team + "/" + t.slug
		creds, _, err := s.creds.Credentials(r.Context(), sess.UserID, t.team)
		if nc, ok := errors.AsType[*jobs.NoCredentialsError](err); ok {
			left = append(left, fmt.Sprintf("%s (%s)", name, nc.Message))
			continue
		}
		if err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
			err = s.backend.DeleteProject(ctx, creds, t.id)
			cancel()
		}
		if err != nil {
			left = append(left, fmt.Sprintf("%s (%s)", name, convex.UserMessage(err)))
			err = nil
			continue
		}
		deleted = append(deleted, name)
	}
	msg := "Deleted " + app.Name + "."
	if len(deleted) > 0 {
		msg += " Deleted the Convex project " + strings.Join(deleted, ", ") + "."
	}
	if len(left) > 0 {
		msg += " Could not delete the Convex project " + strings.Join(left, ", ") + ": it is still on its team; delete it in the Convex dashboard."
	}
	return msg
}
