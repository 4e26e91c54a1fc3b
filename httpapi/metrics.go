package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the bridge's Prometheus metrics on their own registry (so
// that several bridges can live in one test process): the HTTP listener's
// own, the registry failures of every part of the bridge (RegistryError),
// and the Go and process collectors. Other parts register theirs on
// Registry (the MUPDATE server's: package mupdate/mupdatemetrics), and
// /metrics serves them all.
type Metrics struct {
	Registry *prometheus.Registry

	registryErrs *prometheus.CounterVec
	httpRequests *prometheus.CounterVec
}

// NewMetrics creates the metrics (and the Go/process collectors) on a new
// registry.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		registryErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murder_bridge_registry_errors_total",
			Help: "Registry operations that failed (not refusals), by operation.",
		}, []string{"op"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murder_bridge_http_requests_total",
			Help: "Operator HTTP requests by handler and status code.",
		}, []string{"handler", "code"}),
	}
	r.MustRegister(m.registryErrs, m.httpRequests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// RegistryError counts one failed registry operation.
func (m *Metrics) RegistryError(op string) { m.registryErrs.WithLabelValues(op).Inc() }
