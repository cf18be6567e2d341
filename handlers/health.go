package handlers

import (
	"context"
	"net/http"
	"time"

	"chefdeploy/models"
)

// healthz answers while the process serves requests.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// readyz answers 200 only when the database is reachable and fully migrated,
// so a load balancer sends no traffic to a replica that cannot serve it.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.db.PingContext(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("database unreachable\n"))
		return
	}
	// Migrations never un-apply: once seen complete, the check is skipped.
	if !s.migrated.Load() {
		pending, err := models.Pending(ctx, s.db.DB)
		if err != nil || pending {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("migrations pending\n"))
			return
		}
		s.migrated.Store(true)
	}
	w.Write([]byte("ready\n"))
}
