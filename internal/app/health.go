package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"
)

// healthChecks runs the checks of Quay's health endpoints: the database
// answers, and (end to end) the blob store can write, read back and verify a
// small probe blob.
func (a *App) healthChecks(ctx context.Context, endToEnd bool) map[string]bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	services := map[string]bool{"database": a.db.Ping(ctx) == nil}
	if endToEnd {
		services["storage"] = a.storageProbe(ctx) == nil
		_, err := a.keys.JWKS(ctx)
		services["auth"] = err == nil
	}
	return services
}

// storageProbe writes a probe blob through an upload session and reads it
// back.
func (a *App) storageProbe(ctx context.Context) error {
	data := []byte(fmt.Sprintf("wharf health probe %d", time.Now().UnixNano()))
	d := digest.FromBytes(data)
	id := fmt.Sprintf("health-%016x", time.Now().UnixNano())
	if err := a.blobs.StartUpload(ctx, id); err != nil {
		return err
	}
	defer a.blobs.CancelUpload(context.WithoutCancel(ctx), id)
	if _, err := a.blobs.Append(ctx, id, 0, bytes.NewReader(data), 0); err != nil {
		return err
	}
	if _, err := a.blobs.Commit(ctx, id, d); err != nil {
		return err
	}
	defer a.blobs.Delete(context.WithoutCancel(ctx), d)
	r, _, err := a.blobs.Open(ctx, d)
	if err != nil {
		return err
	}
	defer r.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(r); err != nil {
		return err
	}
	if !bytes.Equal(got.Bytes(), data) {
		return fmt.Errorf("storage probe read back different bytes")
	}
	return nil
}

// healthHandler serves Quay's /health/instance and /health/endtoend shape.
func (a *App) healthHandler(endToEnd bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		services := a.healthChecks(r.Context(), endToEnd)
		status := http.StatusOK
		for _, ok := range services {
			if !ok {
				status = http.StatusServiceUnavailable
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"data":        map[string]any{"services": services, "notes": []string{}, "is_testing": false},
			"status_code": status,
		})
	}
}
