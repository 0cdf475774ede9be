package app

import (
	"context"
	"net/http"
	"testing"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/store"
)

// TestBasicCacheFollowsAccountChanges checks that a password remembered by
// the registry's Basic cache stops working on the very next request once the
// account is disabled or its password changes.
func TestBasicCacheFollowsAccountChanges(t *testing.T) {
	s := startLifecycle(t, t.TempDir(), nil)
	ctx := context.Background()
	get := func(pass string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", s.srv.URL+"/v2/", nil)
		req.SetBasicAuth("alice", pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Twice: the second answer comes through the cache.
	for i := 0; i < 2; i++ {
		if got := get(lifecyclePassword); got != http.StatusOK {
			t.Fatalf("enabled account, request %d: HTTP %d", i, got)
		}
	}
	off, on := false, true
	if _, err := s.app.db.UpdateUser(ctx, "alice", store.UserUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if got := get(lifecyclePassword); got != http.StatusUnauthorized {
		t.Fatalf("disabled account with a cached password: HTTP %d, want 401", got)
	}
	if _, err := s.app.db.UpdateUser(ctx, "alice", store.UserUpdate{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	if got := get(lifecyclePassword); got != http.StatusOK {
		t.Fatalf("re-enabled account: HTTP %d", got)
	}
	hash, err := auth.HashPassword("a-new-password-123")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.app.db.UpdateUser(ctx, "alice", store.UserUpdate{PasswordHash: &hash}); err != nil {
		t.Fatal(err)
	}
	if got := get(lifecyclePassword); got != http.StatusUnauthorized {
		t.Fatalf("old password after a change: HTTP %d, want 401", got)
	}
	if got := get("a-new-password-123"); got != http.StatusOK {
		t.Fatalf("new password: HTTP %d", got)
	}
}
