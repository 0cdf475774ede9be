package app

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharfhq/wharf/internal/config"
)

// A push to a repository with auto-prune policies enqueues a prune job:
// with the job system running, the repository is pruned shortly after the
// push, immutable tags stay and pruned tags remain restorable.
func TestAutopruneAfterPush(t *testing.T) {
	s := startLifecycle(t, t.TempDir(), func(c *config.Config) {
		c.DefaultAutoprunePolicy = &config.AutoprunePolicy{Method: "number_of_tags", Value: "100"}
	})
	ctx := t.Context()
	runner, err := s.app.jobs.Start(ctx, s.app.workers())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = runner.Stop(context.WithoutCancel(ctx)) })

	s.call("alice", "POST", "/api/v1/repository/acme/app/autoprunepolicy/", map[string]any{"method": "number_of_tags", "value": 2}, 404)
	if err := s.push("acme/app:locked", labelled(t, map[string]string{"quay.immutable": "true"})); err != nil {
		t.Fatal(err)
	}
	s.call("alice", "POST", "/api/v1/repository/acme/app/autoprunepolicy/", map[string]any{"method": "number_of_tags", "value": 2}, 201)
	for i := 1; i <= 4; i++ {
		if err := s.push(fmt.Sprintf("acme/app:v%d", i), labelled(t, map[string]string{"n": fmt.Sprint(i)})); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := []string{"locked", "v3", "v4"}
	var got []string
	eventually(20*time.Second, 100*time.Millisecond, func() bool {
		got, err = remote.List(s.ref("acme/app").Context(), s.opts()...)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Equal(got, want)
	})
	if !slices.Equal(got, want) {
		t.Fatalf("tags after pushes: %v, want %v", got, want)
	}
	if err := s.pull("acme/app:v4"); err != nil {
		t.Fatal(err)
	}
	// The pruned v1 is history: it can be restored.
	hist := s.call("alice", "GET", "/api/v1/repository/acme/app/tag/?specificTag=v1&onlyActiveTags=false", nil, 200)
	tags, _ := hist["tags"].([]any)
	if len(tags) != 1 {
		t.Fatalf("history of v1: %v", hist)
	}
	d, _ := tags[0].(map[string]any)["manifest_digest"].(string)
	s.call("alice", "POST", "/api/v1/repository/acme/app/tag/v1/restore", map[string]any{"manifest_digest": d}, 200)
}
