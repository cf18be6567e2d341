package handlers

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"chefdeploy/models"
)

// httpMetrics are the request counts and latencies by route.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chefdeploy_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chefdeploy_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	// The registry may be shared with other parts; the runtime collectors once.
	reg.Register(collectors.NewGoCollector())
	reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *httpMetrics) observe(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

// metricsScraper serves the metrics only to a request bearing METRICS_TOKEN
// ("Authorization: Bearer …"); everyone else, and everyone when no token is
// set, gets the same 404 as an unknown page, so the route gives nothing away.
func (s *Server) metricsScraper(metrics http.Handler) http.Handler {
	want := []byte("Bearer " + s.cfg.MetricsToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		// The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
		if len(got) > len("Bearer ") && strings.EqualFold(string(got[:len("Bearer ")]), "Bearer ") {
			copy(got, "Bearer ")
		}
		if s.cfg.MetricsToken == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			s.renderError(w, r, models.ErrNotFound)
			return
		}
		metrics.ServeHTTP(w, r)
	})
}
