package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wharfhq/wharf/internal/config"
)

// scrape fetches /metrics and parses it with Prometheus' own text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

func counterValue(f *dto.MetricFamily, labels map[string]string) float64 {
	var total float64
	for _, m := range f.GetMetric() {
		ok := true
		for k, v := range labels {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if ok {
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

func TestMetrics(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	for i := 0; i < 3; i++ {
		resp, err := http.Get(srv.URL + "/v2/some/repo/manifests/latest")
		if err != nil {
			t.Fatal(err)
		}
		// Read to the end: the server records a request's metrics before it
		// finishes the response, so a complete read orders the scrape after.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get(srv.URL + "/api/v1/discovery")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	fams := scrape(t, srv.URL)
	req := fams["wharf_http_requests_total"]
	if req == nil {
		t.Fatal("no wharf_http_requests_total")
	}
	if got := counterValue(req, map[string]string{"class": "manifest", "method": "GET", "code": "401"}); got != 3 {
		t.Errorf("manifest GET 401 count = %v, want 3", got)
	}
	if got := counterValue(req, map[string]string{"class": "api", "code": "200"}); got != 1 {
		t.Errorf("api 200 count = %v, want 1", got)
	}
	for _, name := range []string{"wharf_http_request_duration_seconds", "go_goroutines", "process_resident_memory_bytes", "go_sql_open_connections"} {
		if fams[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}
	// No repository names in any label: cardinality stays bounded.
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.Contains(lp.GetValue(), "some/repo") {
					t.Errorf("%s has a repository name in label %s", name, lp.GetName())
				}
			}
		}
	}
}
