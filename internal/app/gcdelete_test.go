package app

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharfhq/wharf/internal/config"
)

// Deleting a repository or a whole organization must hand its blobs to GC
// even when an earlier pass examined (and dequeued) them while they were
// still referenced.
func TestGCCollectsDeletedRepositoryAndOrganization(t *testing.T) {
	s := startLifecycle(t, t.TempDir(), func(c *config.Config) { c.GarbageCollectionGrace = 0 })
	ctx := t.Context()
	if err := s.app.db.SetNamespaceTagExpiration(ctx, "acme", 0); err != nil {
		t.Fatal(err)
	}
	imgRepo, imgOrg := randomImage(t), randomImage(t)
	if err := s.push("acme/one:v1", imgRepo); err != nil {
		t.Fatal(err)
	}
	if err := s.push("acme/two:v1", imgOrg); err != nil {
		t.Fatal(err)
	}
	present := func(img v1.Image) []bool {
		t.Helper()
		var out []bool
		for _, d := range imageBlobs(t, img) {
			_, err := s.app.blobs.Stat(ctx, d)
			out = append(out, err == nil)
		}
		return out
	}
	// A pass while everything is referenced dequeues every blob.
	if rep, err := s.app.CollectGarbage(ctx, false); err != nil || rep.Blobs != 0 {
		t.Fatalf("first pass: %+v %v", rep, err)
	}
	if !all(present(imgRepo), true) || !all(present(imgOrg), true) {
		t.Fatal("a referenced blob was collected")
	}

	s.call("alice", "DELETE", "/api/v1/repository/acme/one", nil, 204)
	if _, err := s.app.CollectGarbage(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := present(imgRepo); !all(got, false) {
		t.Fatalf("blobs of the deleted repository still stored: %v", got)
	}
	if got := present(imgOrg); !all(got, true) {
		t.Fatalf("blobs of a live repository collected: %v", got)
	}

	s.call("alice", "DELETE", "/api/v1/organization/acme", nil, 204)
	if _, err := s.app.CollectGarbage(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := present(imgOrg); !all(got, false) {
		t.Fatalf("blobs of the deleted organization still stored: %v", got)
	}
}
