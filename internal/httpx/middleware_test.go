package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type ctxKey struct{}

// Handlers record the actor and repository through contexts derived from
// the request's; the access log line carries them, and the status and
// bytes; SetActor outside Wrap does nothing.
func TestAccessLogActorAndRepository(t *testing.T) {
	SetActor(context.Background(), "nobody") // no holder: no effect, no panic
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	h := Wrap(log, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		SetRepository(r.Context(), "acme/app")
		ctx := context.WithValue(r.Context(), ctxKey{}, "derived")
		SetActor(ctx, "acme+builder")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("done"))
	}))
	req := httptest.NewRequest(http.MethodPut, "/v2/acme/app/manifests/v1", strings.NewReader("body!"))
	req.Header.Set("X-Request-Id", "req-1")
	h.ServeHTTP(httptest.NewRecorder(), req)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	want := map[string]any{"msg": "request", "request_id": "req-1", "actor": "acme+builder", "repository": "acme/app",
		"status": 201.0, "bytes_in": 5.0, "bytes_out": 4.0, "method": "PUT"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	if _, ok := line["duration_ms"]; !ok {
		t.Errorf("no duration_ms: %v", line)
	}

	// Nothing recorded: no actor or repository field.
	buf.Reset()
	Wrap(log, nil, http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
	line = map[string]any{}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if _, ok := line["actor"]; ok {
		t.Errorf("anonymous line has an actor: %v", line)
	}
	if _, ok := line["repository"]; ok || line["status"] != 404.0 {
		t.Errorf("line %v", line)
	}
}
