package sandbox

import (
	_ "embed"
	"net/http"
	"slices"
)

// embeddedPages are the embeddable dashboard's pages (CONTRACT §2.4).
var embeddedPages = []string{"data", "functions", "files", "logs", "history", "settings"}

// embeddedScript is the embeddable dashboard's side of the §2.4 exchange.
//
//go:embed dashboard_embedded.js
var embeddedScript []byte

// embeddedDashboardView is one page of the embeddable dashboard. It knows
// nothing of the deployment until its parent hands it the credentials.
type embeddedDashboardView struct {
	Page   string
	Script string
}

// embeddedDashboard serves /dashboard-embedded/{page}, the stand-in for
// dashboard-embedded.convex.dev: a page the product frames.
func (s *Sandbox) embeddedDashboard(w http.ResponseWriter, r *http.Request) {
	page := r.PathValue("page")
	if !slices.Contains(embeddedPages, page) {
		s.renderPage(w, http.StatusNotFound, errorPage("Page not found", "The embedded dashboard has no such page."))
		return
	}
	v := embeddedDashboardView{Page: page, Script: s.base + "/dashboard-embedded/static/embed.js"}
	s.renderPageFraming(w, http.StatusOK, embeddedDashboardPage(v), true)
}

// embeddedDashboardScript serves embeddedScript.
func (s *Sandbox) embeddedDashboardScript(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(embeddedScript)
}
