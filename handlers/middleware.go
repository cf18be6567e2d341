package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"chefdeploy/config"
	"chefdeploy/models"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	sessionKey
	bodyKey
)

var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID tags each request with an id, taken from a load balancer's
// X-Request-Id when it is harmless, so logs and error pages can be matched.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !safeRequestID.MatchString(id) {
			b := make([]byte, 8)
			rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// RequestID returns the id of the request ctx belongs to.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// recoverPanics turns a panic into a logged 500 instead of a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "request_id", RequestID(r.Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				s.renderError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets the headers every response carries: a CSP that runs only
// our own scripts, no framing, no sniffing, no referrer leaving the site.
func securityHeaders(cfg *config.Config) func(http.Handler) http.Handler {
	csp := strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"connect-src 'self'",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		// The project page frames the embeddable dashboard (CONTRACT §2.4).
		"frame-src 'self' " + originOf(cfg.DashboardEmbedURL),
		"frame-ancestors 'none'",
	}, "; ")
	// The sandbox's embeddable dashboard stands in for Convex's, which our
	// project page frames; nothing else may be framed.
	framable := strings.Replace(csp, "frame-ancestors 'none'", "frame-ancestors 'self'", 1)
	framablePrefix := config.SandboxPath + config.SandboxDashboardEmbedPath + "/"
	hsts := cfg.SecureCookies()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			if cfg.Sandbox && strings.HasPrefix(r.URL.Path, framablePrefix) {
				h.Set("Content-Security-Policy", framable)
			} else {
				h.Set("Content-Security-Policy", csp)
				h.Set("X-Frame-Options", "DENY")
			}
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "same-origin")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			if hsts {
				h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
			}
			next.ServeHTTP(w, r)
		})
	}
}

// crossOriginGuard refuses state-changing requests from other origins with Go's
// CrossOriginProtection; GET, HEAD and OPTIONS pass.
func (s *Server) crossOriginGuard(next http.Handler) http.Handler {
	guard := http.NewCrossOriginProtection()
	// Behind a proxy the Host header may differ from the public origin.
	guard.AddTrustedOrigin(originOf(s.cfg.BaseURL))
	guard.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, models.Errorf(models.EFORBIDDEN, "This request came from another site and was refused."))
	}))
	return guard.Handler(next)
}

func originOf(baseURL string) string {
	scheme, rest, _ := strings.Cut(baseURL, "://")
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

// refuseBadBytes answers, before any handler or query runs, a request whose
// path or query holds what no id, slug or filter can: invalid UTF-8 or a
// control character (PostgreSQL refuses NUL and invalid UTF-8 in text, and
// neither belongs in a name). A path is the 404 of a missing app; a query
// is a 422 that says why. Form fields are checked by each form's Validate.
func (s *Server) refuseBadBytes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !cleanText(r.URL.Path) {
			s.renderError(w, r, models.ErrNotFound)
			return
		}
		if r.URL.RawQuery != "" {
			// Malformed escapes are dropped here as r.URL.Query drops them.
			q, _ := url.ParseQuery(r.URL.RawQuery)
			for k, vs := range q {
				if !cleanText(k) || slices.ContainsFunc(vs, func(v string) bool { return !cleanText(v) }) {
					s.renderError(w, r, models.Errorf(models.EINVALID, "The address contains characters that cannot be used (control characters or invalid UTF-8)."))
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// cleanText reports whether s is valid UTF-8 without control characters.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// observe records metrics and one access-log line per request. It sits right
// around the mux, which fills in r.Pattern. Only the path is logged: queries
// can carry OAuth codes.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		if r.Body != nil && r.Body != http.NoBody {
			body := &clientBody{ReadCloser: r.Body}
			r = r.WithContext(context.WithValue(r.Context(), bodyKey, body))
			r.Body = body
		}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		elapsed := time.Since(start)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		s.metrics.observe(route, r.Method, rec.status, elapsed)
		if strings.HasPrefix(route, "GET /static/") || route == "GET /metrics" {
			return
		}
		level := slog.LevelInfo
		switch {
		case rec.status == http.StatusServiceUnavailable:
			// Unavailable is passing trouble (the database restarting), said
			// once per request as a warning rather than as an error flood.
			level = slog.LevelWarn
		case rec.status >= 500:
			level = slog.LevelError
		case route == statusPollRoute && rec.status < 400:
			// Every connecting browser polls each second: at thousands of
			// browsers, one line each is megabytes of log a minute, and
			// every request queues on the log's lock behind a slow reader
			// of stdout. Their count and latency are in the metrics.
			level = slog.LevelDebug
		}
		if !s.log.Enabled(r.Context(), level) {
			return
		}
		s.log.LogAttrs(r.Context(), level, "request",
			slog.String("request_id", RequestID(r.Context())),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", route),
			slog.Int("status", rec.status),
			slog.Duration("duration", elapsed),
		)
	})
}

// clientBody is a request body that remembers why reading it failed, so an
// error it caused can be told from the server's own.
type clientBody struct {
	io.ReadCloser
	err error // the first read error other than io.EOF
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// clientGone reports whether r's client went away: its body ended early
// (the connection closed mid-upload: "unexpected EOF", a reset), or its
// context was cancelled, which net/http does when the connection closes.
// A read that timed out is the server's deadline, not the client leaving.
func clientGone(r *http.Request) bool {
	if b, _ := r.Context().Value(bodyKey).(*clientBody); b != nil && b.err != nil {
		var ne net.Error
		return !(errors.As(b.err, &ne) && ne.Timeout())
	}
	return errors.Is(r.Context().Err(), context.Canceled)
}

// loadSession puts the signed-in session, if any, into the request context.
func (s *Server) loadSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/static/") || strings.HasPrefix(r.URL.Path, config.SandboxPath+"/") {
			next.ServeHTTP(w, r)
			return
		}
		sid := s.sessionID(r)
		if sid == "" {
			next.ServeHTTP(w, r)
			return
		}
		sess, err := s.sessions.Get(r.Context(), sid)
		switch {
		case err == nil:
			r = r.WithContext(context.WithValue(r.Context(), sessionKey, &sess))
		case errors.Is(err, models.ErrNotFound):
			// Logged out elsewhere or expired: forget the cookie.
			s.clearSessionCookie(w, r)
		default:
			s.renderError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// currentSession is the signed-in session, nil when signed out.
func currentSession(r *http.Request) *models.SessionWithUser {
	sess, _ := r.Context().Value(sessionKey).(*models.SessionWithUser)
	return sess
}
