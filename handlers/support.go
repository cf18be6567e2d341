package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"chefdeploy/jobs"
	"chefdeploy/models"
	"chefdeploy/views"
)

// supportPageSize is how many apps one page of the console lists.
const supportPageSize = 50

// supportList is the support console: every app's connection state.
func (s *Server) supportList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := models.SupportFilter{State: q.Get("state"), Team: q.Get("team"), Query: q.Get("q"), After: q.Get("after")}
	v := views.SupportView{State: f.State, Team: f.Team, Query: f.Query, States: models.SupportStates}
	rows, next, err := models.ListSupport(r.Context(), s.db, f, supportPageSize)
	if models.ErrorCode(err) == models.EINVALID {
		v.Error = models.ErrorMessage(err)
		s.render(w, r, http.StatusUnprocessableEntity, "Support", views.Support(v))
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	stuck, err := models.StuckConnections(r.Context(), s.db, 20)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	now := time.Now()
	for _, row := range stuck {
		v.Stuck = append(v.Stuck, supportRow(row, now))
	}
	for _, row := range rows {
		v.Rows = append(v.Rows, supportRow(row, now))
	}
	v.Next = next
	s.render(w, r, http.StatusOK, "Support", views.Support(v))
}

func supportRow(row models.SupportRow, now time.Time) views.SupportRow {
	v := views.SupportRow{
		AppID: row.AppID, AppName: row.AppName, OwnerEmail: row.OwnerEmail, State: models.StateNone,
		Step: row.Step.String, TeamSlug: row.TeamSlug.String, ProjectSlug: row.ProjectSlug.String, Error: row.Error.String,
	}
	if row.State.Valid {
		v.State = row.State.String
		v.InState = now.Sub(row.StateChangedAt.Time)
		v.Stuck = row.State.String == models.StateConnecting && row.DeadlineAt.Valid && now.After(row.DeadlineAt.Time)
	} else {
		v.InState = now.Sub(row.CreatedAt)
	}
	if row.LastDeploy.Valid {
		v.LastDeploy = row.LastDeploy.String + ", " + row.LastDeployAt.Time.UTC().Format("2006-01-02 15:04")
	}
	return v
}

// supportApp is the read-only detail view of one app, with its history.
func (s *Server) supportApp(w http.ResponseWriter, r *http.Request) {
	s.renderSupportApp(w, r, http.StatusOK, "", "", true)
}

func (s *Server) renderSupportApp(w http.ResponseWriter, r *http.Request, status int, notice, formError string, audit bool) {
	sess := currentSession(r)
	row, err := models.SupportApp(r.Context(), s.db, r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if audit {
		// Support sees an app only once the view is in its trail.
		if err := models.RecordEvent(r.Context(), s.db, sess.UserID, row.AppID, models.EventSupportViewed, ""); err != nil {
			s.renderError(w, r, err)
			return
		}
	}
	events, err := models.AppEvents(r.Context(), s.db, row.AppID, 100)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := views.SupportAppView{
		Row: supportRow(row, time.Now()), DeploymentName: row.DeploymentName.String, Attempt: row.Attempt.Int64,
		CanFail: row.State.String == models.StateConnecting, Notice: notice, Error: formError,
	}
	for _, e := range events {
		v.Events = append(v.Events, views.EventItem{Kind: e.Kind, Detail: e.Detail, At: e.CreatedAt, Actor: e.ActorEmail.String})
	}
	s.render(w, r, status, row.AppName, views.SupportApp(v))
}

// supportFail marks a connecting attempt failed with support's note; support
// never acts with the user's credentials and cannot start provisioning.
func (s *Server) supportFail(w http.ResponseWriter, r *http.Request) {
	sess := currentSession(r)
	row, err := models.SupportApp(r.Context(), s.db, r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	note := r.PostFormValue("note")
	if !models.ValidName(note) {
		s.renderSupportApp(w, r, http.StatusUnprocessableEntity, "", models.UnusableMessage("note"), false)
		return
	}
	note = truncate(collapseSpaces(note), 300)
	if note == "" {
		s.renderSupportApp(w, r, http.StatusUnprocessableEntity, "", "Write a note: the owner reads it as the reason.", false)
		return
	}
	err = s.connections.Fail(r.Context(), jobs.Failure{
		AppID: row.AppID, ActorID: sess.UserID, Message: "Marked failed by support: " + note,
		Event: models.EventSupportFailed, EventDetail: note,
	})
	if errors.Is(err, models.ErrStale) {
		s.renderSupportApp(w, r, http.StatusConflict, "", "The connection is no longer connecting; nothing was changed.", false)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.statuses.Invalidate(row.AppID)
	s.renderSupportApp(w, r, http.StatusOK, "Marked failed. The owner now sees your note.", "", false)
}

// supportEventsPageSize is how many events one page of the trail shows.
const supportEventsPageSize = 100

// supportEvents is the whole audit trail, newest first.
func (s *Server) supportEvents(w http.ResponseWriter, r *http.Request) {
	before, err := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	if err != nil && r.URL.Query().Get("before") != "" {
		s.renderError(w, r, models.Errorf(models.EINVALID, "That page link is not valid."))
		return
	}
	events, err := models.RecentEvents(r.Context(), s.db, before, supportEventsPageSize)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := views.SupportEventsView{}
	for _, e := range events {
		item := views.EventItem{Kind: e.Kind, Detail: e.Detail, At: e.CreatedAt, Actor: e.ActorEmail.String}
		if e.AppID.Valid {
			item.AppURL = "/support/apps/" + e.AppID.String
		}
		v.Events = append(v.Events, item)
	}
	if len(events) == supportEventsPageSize {
		v.Before = events[len(events)-1].ID
	}
	s.render(w, r, http.StatusOK, "Audit trail", views.SupportEvents(v))
}
