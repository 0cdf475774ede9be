package app

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wharfhq/wharf/internal/httpx"
	"github.com/wharfhq/wharf/internal/registry"
	"github.com/wharfhq/wharf/internal/store"
)

// routeClass maps a request to a bounded metrics label.
func routeClass(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/v2/auth":
		return "token"
	case p == "/v2" || strings.HasPrefix(p, "/v2/"):
		return registry.RouteClass(p)
	case strings.HasPrefix(p, "/api/v1/"):
		return "api"
	case strings.HasPrefix(p, "/oauth2/"):
		return "oauth"
	case p == "/metrics":
		return "metrics"
	case p == "/healthz" || p == "/readyz" || strings.HasPrefix(p, "/health/"):
		return "health"
	}
	return "other"
}

// newMetrics builds the process's metrics registry: HTTP metrics, database
// pool statistics, and the Go runtime and process collectors.
func newMetrics(db *store.DB) (*prometheus.Registry, *httpx.Metrics) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for name, pool := range db.Pools() {
		reg.MustRegister(collectors.NewDBStatsCollector(pool, name))
	}
	return reg, httpx.NewMetrics(reg, routeClass)
}

// metricsHandler serves the registry in Prometheus' text format.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
