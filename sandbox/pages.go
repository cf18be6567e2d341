package sandbox

import (
	"bytes"
	"context"
	"net/http"
	"strings"

	"github.com/a-h/templ"
)

// formField is a hidden field of the consent form.
type formField struct {
	Name, Value string
}

// userChoice is one demo user on the consent page.
type userChoice struct {
	Key   string
	Name  string
	Email string
	Teams string
}

// TestID is the data-testid of the user's button.
func (u userChoice) TestID() string { return "sandbox-user-" + u.Key }

// authorizeView is the consent page.
type authorizeView struct {
	ClientID string
	// Purpose says what the application asks for, after its name.
	Purpose string
	Fields  []formField
	Users   []userChoice
}

func newAuthorizeView(clientID string, fields []formField, purpose string) authorizeView {
	v := authorizeView{ClientID: clientID, Purpose: purpose, Fields: fields}
	for _, u := range demoUsers {
		names := make([]string, 0, len(u.Teams))
		for _, slug := range u.Teams {
			names = append(names, teamsBySlug[slug].Name)
		}
		v.Users = append(v.Users, userChoice{Key: u.Key, Name: u.Name, Email: u.Email, Teams: strings.Join(names, ", ")})
	}
	return v
}

// dashboardView is the deployment's dashboard page. It holds variable names
// only: values are secrets.
type dashboardView struct {
	ProjectName    string
	TeamName       string
	TeamSlug       string
	DeploymentName string
	DeploymentURL  string
	EnvNames       []string
	SiteURL        string // "" until a hosting deploy
}

// renderPage renders into a buffer first so a failed render is a clean 500,
// never half a page.
func (s *Sandbox) renderPage(w http.ResponseWriter, status int, c templ.Component) {
	s.renderPageFraming(w, status, c, false)
}

// renderPageFraming renders a page; framable pages (the embeddable
// dashboard, which the product frames) may be framed, all others not.
func (s *Sandbox) renderPageFraming(w http.ResponseWriter, status int, c templ.Component, framable bool) {
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		s.log.Error("sandbox: render page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// The consent page must not be framed: a frame could trick a click.
	if !framable {
		h.Set("X-Frame-Options", "DENY")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
