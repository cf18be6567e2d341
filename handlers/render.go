package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"

	"github.com/a-h/templ"

	"chefdeploy/models"
	"chefdeploy/views"
)

// isFragmentRequest is true for an HTMX request that wants a fragment; a
// history restore wants the whole page.
func isFragmentRequest(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-History-Restore-Request") != "true"
}

// page is the frame of a full page for this request.
func (s *Server) page(r *http.Request, title string) views.Page {
	p := views.Page{Title: title, Sandbox: s.cfg.Sandbox}
	if sess := currentSession(r); sess != nil {
		p.User = &views.User{Name: sess.User.Name, Email: sess.User.Email}
		// A full page only: the stored answer, never a re-check from here.
		if st, err := models.SupportStatusOf(r.Context(), s.db, sess.UserID); err == nil {
			p.Support = st.Granted || (s.cfg.SupportTeamSlug != "" && st.TeamMember)
		}
	}
	return p
}

// render writes content as a fragment for HTMX or inside the layout otherwise.
// It renders into a buffer first, so a failed render is a clean 500, never
// half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, title string, content templ.Component) {
	component := content
	if !isFragmentRequest(r) {
		component = layoutAround(s.page(r, title), content)
	}
	buf := renderBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer putRenderBuffer(buf)
	if err := component.Render(r.Context(), buf); err != nil {
		s.log.Error("render failed", "request_id", RequestID(r.Context()), "err", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Add("Vary", "HX-Request")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderBuffers are reused: growing a fresh buffer to a page's size costs
// more than the rest of rendering the status fragment most browsers poll.
// A buffer goes back only after its bytes were written, which copies them.
var renderBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putRenderBuffer(buf *bytes.Buffer) {
	// An unusually large page does not keep its memory.
	if buf.Cap() <= 256<<10 {
		renderBuffers.Put(buf)
	}
}

func layoutAround(p views.Page, content templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		return views.Layout(p).Render(templ.WithChildren(ctx, content), w)
	})
}

// writeJSON answers v as JSON, for the API; nothing it answers is cacheable.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeJSONError answers the API's error shape: {"error": message}.
func writeJSONError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"error": message})
}
