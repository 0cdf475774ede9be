package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/internal/config"
)

func TestHealthEndpoints(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	for _, path := range []string{"/health/instance", "/health/endtoend", "/healthz", "/readyz"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		if strings.HasPrefix(path, "/health/") {
			var v struct {
				Data struct {
					Services map[string]bool `json:"services"`
				} `json:"data"`
				StatusCode int `json:"status_code"`
			}
			if err := json.Unmarshal(body, &v); err != nil || v.StatusCode != 200 || !v.Data.Services["database"] {
				t.Fatalf("%s: %s", path, body)
			}
			if path == "/health/endtoend" && (!v.Data.Services["storage"] || !v.Data.Services["auth"]) {
				t.Fatalf("%s: %s", path, body)
			}
		}
	}
	// With the database closed, the checks fail with 503.
	a.Close()
	resp, err := http.Get(srv.URL + "/health/instance")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("health with a closed database: %d", resp.StatusCode)
	}
}
