package handlers

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"chefdeploy/models"
	"chefdeploy/views"
)

// StatusClientClosedRequest is nginx's status for a request whose client
// went away before the answer: it closed the connection mid-body, or its
// context was cancelled while the server worked.
const StatusClientClosedRequest = 499

var errorStatus = map[string]int{
	models.ENOTFOUND:     http.StatusNotFound,
	models.EINVALID:      http.StatusUnprocessableEntity,
	models.EUNAUTHORIZED: http.StatusUnauthorized,
	models.EFORBIDDEN:    http.StatusForbidden,
	models.ECONFLICT:     http.StatusConflict,
	models.EUNAVAILABLE:  http.StatusServiceUnavailable,
	models.EINTERNAL:     http.StatusInternalServerError,
}

var errorTitle = map[int]string{
	http.StatusBadRequest:          "That request did not make sense",
	http.StatusUnauthorized:        "Please sign in",
	http.StatusForbidden:           "Not allowed",
	http.StatusNotFound:            "Page not found",
	http.StatusConflict:            "That clashes with something else",
	http.StatusUnprocessableEntity: "Please check what you entered",
	http.StatusBadGateway:          "Convex did not answer as expected",
	http.StatusServiceUnavailable:  "Temporarily unavailable",
	http.StatusInternalServerError: "Something went wrong",
}

// renderError is the one way errors reach a person: the code picks the status,
// internal errors are logged with the request id, and only a safe message is shown.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	code := models.ErrorCode(err)
	status, ok := errorStatus[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status >= 500 && clientGone(r) {
		// Nobody is left to read an answer, and it is not the server's fault:
		// counted as 499, as nginx does, so it stays out of the 5xx figures.
		s.log.Info("client closed the request", "request_id", RequestID(r.Context()), "path", r.URL.Path, "err", err)
		w.WriteHeader(StatusClientClosedRequest)
		return
	}
	switch {
	case status == http.StatusServiceUnavailable:
		// Passing trouble (the database restarting): a warning, not an error
		// per request, and the client is told when to come back.
		s.log.Warn("request failed: unavailable", "request_id", RequestID(r.Context()), "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(int(views.ReconnectInterval/time.Second)))
		if appID, ok := s.statusPollOf(r); ok {
			// The poll keeps its panel, and its polling, rather than turning
			// the page into an error that would end both.
			s.render(w, r, status, "Reconnecting", views.StatusFragment(views.ReconnectingStatus(appID)))
			return
		}
	case status >= 500:
		s.log.Error("request failed", "request_id", RequestID(r.Context()), "path", r.URL.Path, "err", err)
	}
	s.renderErrorView(w, r, views.ErrorView{Status: status, Message: models.ErrorMessage(err)})
}

// statusPollRoute is the status fragment's route; appRefPattern is what an
// app id or slug in its path can look like.
const statusPollRoute = "GET /apps/{id}/status"

var appRefPattern = regexp.MustCompile(`^[a-z0-9-]{1,100}$`)

// statusPollOf returns the app of a status fragment's poll. It also works in
// the middleware, before the mux has matched the request.
func (s *Server) statusPollOf(r *http.Request) (appID string, ok bool) {
	if !isFragmentRequest(r) || s.mux == nil {
		return "", false
	}
	pattern := r.Pattern
	if pattern == "" {
		_, pattern = s.mux.Handler(r)
	}
	if pattern != statusPollRoute {
		return "", false
	}
	appID = strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/apps/"), "/status")
	return appID, appRefPattern.MatchString(appID)
}

// renderErrorView shows an error page (or fragment) with the given text.
func (s *Server) renderErrorView(w http.ResponseWriter, r *http.Request, e views.ErrorView) {
	if e.Title == "" {
		e.Title = errorTitle[e.Status]
		if e.Title == "" {
			e.Title = http.StatusText(e.Status)
		}
	}
	e.RequestID = RequestID(r.Context())
	if isFragmentRequest(r) {
		// HTMX swaps error answers (see the htmx-config meta) into the page's main area.
		w.Header().Set("HX-Retarget", "#main")
		w.Header().Set("HX-Reswap", "innerHTML")
	}
	s.render(w, r, e.Status, e.Title, views.ErrorPage(e))
}

// noRoute answers what no route matched: 405 with Allow when the path exists
// for other methods, else the 404 page. (A catch-all "/" route would otherwise
// hide the mux's own 405s.)
func (s *Server) noRoute(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			s.renderErrorView(w, r, views.ErrorView{Status: http.StatusMethodNotAllowed, Message: "This address does not accept " + r.Method + " requests."})
			return
		}
		s.renderErrorView(w, r, views.ErrorView{
			Status:  http.StatusNotFound,
			Title:   "Page not found",
			Message: "There is no page at " + truncate(r.URL.Path, 100) + ". The link may be mistyped, or the page was removed.",
		})
	})
}
