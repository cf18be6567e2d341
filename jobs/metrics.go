package jobs

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the connection outcomes and how long they took.
type metrics struct {
	outcomes *prometheus.CounterVec
	duration prometheus.Histogram
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chefdeploy_connections_total",
			Help: "Finished connection attempts by outcome (connected, failed, deadline).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chefdeploy_connect_duration_seconds",
			Help:    "Time from Connect to connected.",
			Buckets: []float64{.025, .05, .1, .15, .25, .5, 1, 2.5, 5, 10, 15, 30},
		}),
	}
	reg.MustRegister(m.outcomes, m.duration)
	return m
}

func (m *metrics) connected(since time.Time) {
	m.outcomes.WithLabelValues("connected").Inc()
	m.duration.Observe(time.Since(since).Seconds())
}

func (m *metrics) failed(outcome string) { m.outcomes.WithLabelValues(outcome).Inc() }
