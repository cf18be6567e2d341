package handlers

import (
	"net/http"

	"chefdeploy/models"
	"chefdeploy/views"
)

// settings lists the user's Convex team grants and API tokens.
func (s *Server) settings(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	s.renderSettings(w, r, sess, http.StatusOK, views.SettingsView{})
}

func (s *Server) renderSettings(w http.ResponseWriter, r *http.Request, sess *models.SessionWithUser, status int, v views.SettingsView) {
	grants, err := models.TeamGrantsOf(r.Context(), s.db, sess.UserID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	for _, g := range grants {
		v.TeamGrants = append(v.TeamGrants, views.TeamGrantItem{TeamID: g.TeamID, Slug: g.TeamSlug, AuthorizedAt: g.CreatedAt, Revoked: g.Revoked()})
	}
	tokens, err := models.APITokensOf(r.Context(), s.db, sess.UserID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	for _, t := range tokens {
		item := views.TokenItem{ID: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: t.CreatedAt, Revoked: t.RevokedAt.Valid}
		if t.LastUsedAt.Valid {
			item.LastUsed = &t.LastUsedAt.Time
		}
		v.Tokens = append(v.Tokens, item)
	}
	s.render(w, r, status, "Settings", views.Settings(v))
}

// settingsTokenCreate makes an API token and shows it once.
func (s *Server) settingsTokenCreate(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	form := models.APITokenForm{Name: r.PostFormValue("name")}
	if errs := form.Validate(); len(errs) > 0 {
		s.renderSettings(w, r, sess, http.StatusUnprocessableEntity, views.SettingsView{FormError: errs["name"]})
		return
	}
	token, _, err := models.CreateAPIToken(r.Context(), s.db, sess.UserID, form.Name)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.renderSettings(w, r, sess, http.StatusOK, views.SettingsView{NewToken: token})
}

// settingsTokenRevoke ends one of the user's API tokens.
func (s *Server) settingsTokenRevoke(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	t, err := models.RevokeAPIToken(r.Context(), s.db, sess.UserID, r.PathValue("token"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.renderSettings(w, r, sess, http.StatusOK, views.SettingsView{Notice: "Revoked “" + t.Name + "”."})
}
