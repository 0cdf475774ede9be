package app

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// A push that would take an organization over its Reject threshold fails
// with 403 DENIED naming the quota; pulls and deletes go on, and a delete
// makes room again.
func TestQuotaRejectsPush(t *testing.T) {
	s := startLifecycle(t, t.TempDir(), nil)
	ctx := t.Context()
	runner, err := s.app.jobs.Start(ctx, s.app.workers())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = runner.Stop(context.WithoutCancel(ctx)) })

	first, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.push("acme/app:first", first); err != nil {
		t.Fatal(err)
	}
	report := s.call("alice", "GET", "/api/v1/organization/acme", nil, 200)["quota_report"].(map[string]any)
	used := int64(report["quota_bytes"].(float64))
	if used < 8192 || report["configured_quota"] != nil {
		t.Fatalf("quota_report after one push: %v", report)
	}
	s.call("root", "POST", "/api/v1/organization/acme/quota", map[string]any{"limit_bytes": used + 1000}, 201)
	qs, err := s.app.db.Quotas(ctx, "acme")
	if err != nil || len(qs) != 1 {
		t.Fatalf("quotas %v, %v", qs, err)
	}
	qbase := fmt.Sprintf("/api/v1/organization/acme/quota/%d", qs[0].ID)
	s.call("root", "POST", qbase+"/limit", map[string]any{"type": "Reject", "threshold_percent": 100}, 201)

	// A re-push of the same layers under another tag costs nothing.
	if err := s.push("acme/app:again", first); err != nil {
		t.Fatal(err)
	}
	second, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	err = s.push("acme/other:second", second)
	wantRegistryError(t, err, http.StatusForbidden, "DENIED", "Quota has been exceeded on namespace acme")
	if err := s.pull("acme/app:first"); err != nil {
		t.Fatalf("pull while over quota: %v", err)
	}
	// Deleting the first image frees its layers.
	d, err := first.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(s.ref("acme/app@"+d.String()), s.opts()...); err != nil {
		t.Fatal(err)
	}
	if err := s.push("acme/other:second", second); err != nil {
		t.Fatalf("push after a delete: %v", err)
	}

	// A recount through the API agrees with the online figure.
	before := s.call("alice", "GET", "/api/v1/organization/acme", nil, 200)["quota_report"].(map[string]any)["quota_bytes"]
	s.call("root", "POST", qbase+"/recalculate", nil, 202)
	eventually(10*time.Second, 50*time.Millisecond, func() bool {
		stats, err := s.app.jobs.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return stats["available"]+stats["running"]+stats["retryable"] == 0
	})
	after := s.call("alice", "GET", "/api/v1/organization/acme", nil, 200)["quota_report"].(map[string]any)["quota_bytes"]
	count, err := s.app.db.CountNamespaceUsage(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if before != after || int64(after.(float64)) != count {
		t.Fatalf("usage %v before the recount, %v after, %d counted", before, after, count)
	}
}
