package jobs

import (
	"context"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"chefdeploy/models"
)

// metrics are the connection and deploy outcomes, how long connects took,
// and the auth keys connects had to make themselves.
type metrics struct {
	outcomes *prometheus.CounterVec
	failures *prometheus.CounterVec
	deploys  *prometheus.CounterVec
	duration prometheus.Histogram
	inline   prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chefdeploy_connections_total",
			Help: "Finished connection attempts by outcome (connected, failed, deadline).",
		}, []string{"outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chefdeploy_connect_failures_total",
			Help: "Failed connection attempts by reason (deadline, quota, sso, unauthorized, forbidden, deploy_key, rate_limited, convex_5xx, invalid_response, other).",
		}, []string{"reason"}),
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chefdeploy_deploys_total",
			Help: "Finished deploys by outcome (live, failed).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chefdeploy_connect_duration_seconds",
			Help:    "Time from Connect to connected.",
			Buckets: []float64{.025, .05, .1, .15, .25, .5, 1, 2.5, 5, 10, 15, 30},
		}),
		inline: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chefdeploy_auth_keys_generated_inline_total",
			Help: "Convex Auth keys a connect generated itself because the stock was empty (or AUTH_KEY_STOCK is 0).",
		}),
	}
	reg.MustRegister(m.outcomes, m.failures, m.deploys, m.duration, m.inline)
	// Every known series exists from the start at 0: a rate or a ratio
	// over them is 0, not "no data", until the first failure.
	for _, outcome := range []string{"connected", "failed", "deadline"} {
		m.outcomes.WithLabelValues(outcome)
	}
	for _, reason := range failureReasons {
		m.failures.WithLabelValues(reason)
	}
	for _, outcome := range []string{"live", "failed"} {
		m.deploys.WithLabelValues(outcome)
	}
	return m
}

// failureReasons are the values failureReason gives.
var failureReasons = []string{"deadline", "quota", "sso", "unauthorized", "forbidden", "deploy_key", "rate_limited", "convex_5xx", "invalid_response", "other"}

func (m *metrics) connected(since time.Time) {
	m.outcomes.WithLabelValues("connected").Inc()
	m.duration.Observe(time.Since(since).Seconds())
}

// failed counts a failed attempt by outcome and by the reason its message
// gives.
func (m *metrics) failed(outcome, message string) {
	m.outcomes.WithLabelValues(outcome).Inc()
	m.failures.WithLabelValues(failureReason(outcome, message)).Inc()
}

func (m *metrics) deployed(status string) { m.deploys.WithLabelValues(status).Inc() }

// failureReason names a failure from its contract message (CONTRACT §2), so
// an alert can tell Convex's outage from a user's full quota.
func failureReason(outcome, message string) string {
	switch {
	case outcome == "deadline" || message == "Failed to connect to project":
		return "deadline"
	case strings.Contains(message, "ProjectQuotaReached"):
		return "quota"
	case strings.Contains(message, "Single Sign-on"):
		return "sso"
	case strings.HasPrefix(message, "Your sign-in has expired"), strings.Contains(message, "no longer accepts your authorization"):
		return "unauthorized"
	case strings.Contains(message, "does not allow this"):
		return "forbidden"
	case strings.HasPrefix(message, "Failed to create project deploy key"):
		return "deploy_key"
	case strings.HasSuffix(message, ": 429"):
		return "rate_limited"
	case strings.HasPrefix(message, "Failed to create project: 5"):
		return "convex_5xx"
	case strings.Contains(message, "invalid response"):
		return "invalid_response"
	}
	return "other"
}

// queueCollector reads, at each scrape, what an operator alerts on that
// lives in the database: connections past their deadline that are still
// connecting (chefdeploy_stuck_connections), River's jobs by state
// (chefdeploy_jobs{state}) and the keys in the auth key stock
// (chefdeploy_auth_keys_in_stock). Every replica reports the same
// fleet-wide numbers; alert on max() across replicas.
type queueCollector struct {
	db       *sqlx.DB
	stuck    *prometheus.Desc
	jobs     *prometheus.Desc
	keyStock *prometheus.Desc
}

func newQueueCollector(db *sqlx.DB) *queueCollector {
	return &queueCollector{
		db: db,
		stuck: prometheus.NewDesc("chefdeploy_stuck_connections",
			"Connections still connecting more than 10s past their deadline (the sweeper should have failed them).", nil, nil),
		jobs: prometheus.NewDesc("chefdeploy_jobs",
			"River jobs by state (available, scheduled, retryable, running): the queue's depth.", []string{"state"}, nil),
		keyStock: prometheus.NewDesc("chefdeploy_auth_keys_in_stock",
			"Convex Auth keys made ahead of time and not yet handed out (AUTH_KEY_STOCK is the target).", nil, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.stuck
	ch <- c.jobs
	ch <- c.keyStock
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var stuck int
	if err := c.db.GetContext(ctx, &stuck, `
		SELECT count(*) FROM connections
		 WHERE state = 'connecting' AND deadline_at < now() - interval '10 seconds'`); err != nil {
		ch <- prometheus.NewInvalidMetric(c.stuck, err)
	} else {
		ch <- prometheus.MustNewConstMetric(c.stuck, prometheus.GaugeValue, float64(stuck))
	}
	if n, err := models.CountAuthKeys(ctx, c.db); err != nil {
		ch <- prometheus.NewInvalidMetric(c.keyStock, err)
	} else {
		ch <- prometheus.MustNewConstMetric(c.keyStock, prometheus.GaugeValue, float64(n))
	}
	var rows []struct {
		State string `db:"state"`
		N     int    `db:"n"`
	}
	if err := c.db.SelectContext(ctx, &rows, `
		SELECT state::text AS state, count(*) AS n FROM river_job
		 WHERE state IN ('available', 'scheduled', 'retryable', 'running') GROUP BY state`); err != nil {
		ch <- prometheus.NewInvalidMetric(c.jobs, err)
		return
	}
	counts := map[string]int{"available": 0, "scheduled": 0, "retryable": 0, "running": 0}
	for _, r := range rows {
		counts[r.State] = r.N
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), state)
	}
}
