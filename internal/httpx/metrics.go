package httpx

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the HTTP metrics of every edge. Labels are bounded: a route
// class (chosen by the caller's classifier from a fixed set), the method and
// the status code; never a repository or user.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytesIn  *prometheus.CounterVec
	bytesOut *prometheus.CounterVec
	inFlight *prometheus.GaugeVec
	classify func(r *http.Request) string
}

// NewMetrics registers the HTTP metrics on reg. classify maps a request to
// its route class (e.g. "blob", "manifest", "upload", "api").
func NewMetrics(reg prometheus.Registerer, classify func(r *http.Request) string) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_http_requests_total", Help: "HTTP requests by route class, method and status code.",
		}, []string{"class", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wharf_http_request_duration_seconds", Help: "HTTP request latency by route class and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"class", "method"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_http_request_bytes_total", Help: "Request body bytes received by route class.",
		}, []string{"class"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_http_response_bytes_total", Help: "Response body bytes sent by route class.",
		}, []string{"class"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wharf_http_requests_in_flight", Help: "Requests being served, by route class (class upload = uploads in flight).",
		}, []string{"class"}),
		classify: classify,
	}
	reg.MustRegister(m.requests, m.duration, m.bytesIn, m.bytesOut, m.inFlight)
	return m
}

// methodLabel keeps the method label bounded.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

func (m *Metrics) begin(r *http.Request) (class string, start time.Time) {
	class = m.classify(r)
	m.inFlight.WithLabelValues(class).Inc()
	return class, time.Now()
}

func (m *Metrics) end(r *http.Request, class string, start time.Time, status int, in, out int64) {
	method := methodLabel(r.Method)
	m.inFlight.WithLabelValues(class).Dec()
	m.requests.WithLabelValues(class, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(class, method).Observe(time.Since(start).Seconds())
	m.bytesIn.WithLabelValues(class).Add(float64(in))
	m.bytesOut.WithLabelValues(class).Add(float64(out))
}
