package app

import (
	"net/http"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/wharfhq/wharf/internal/config"
)

// FEATURE_IMMUTABLE_TAGS is enforced by the store: on, a push over an
// immutable tag (its own flag or a policy) is 409 TAG_IMMUTABLE; switched
// off (restart on the same data), the same pushes succeed, the flag cannot
// be set, and flags set before are kept for when it is on again.
func TestImmutableTagsSwitch(t *testing.T) {
	dir := t.TempDir()
	img := func() v1.Image {
		i, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	on := startLifecycle(t, dir, nil)
	for _, tag := range []string{"v1", "rel-1", "keep"} {
		if err := on.push("acme/app:"+tag, img()); err != nil {
			t.Fatal(err)
		}
	}
	on.call("alice", "PUT", "/api/v1/repository/acme/app/tag/v1", map[string]any{"immutable": true}, http.StatusCreated)
	on.call("alice", "PUT", "/api/v1/repository/acme/app/tag/keep", map[string]any{"immutable": true}, http.StatusCreated)
	on.call("alice", "POST", "/api/v1/organization/acme/immutabilitypolicy/", map[string]any{"tagPattern": "rel-.*", "tagPatternMatches": true}, http.StatusCreated)
	wantRegistryError(t, on.push("acme/app:v1", img()), http.StatusConflict, "TAG_IMMUTABLE", "v1")
	wantRegistryError(t, on.push("acme/app:rel-1", img()), http.StatusConflict, "TAG_IMMUTABLE", "rel-1")
	on.close()

	off := startLifecycle(t, dir, func(c *config.Config) { c.ImmutableTags = false })
	if err := off.push("acme/app:v1", img()); err != nil {
		t.Fatalf("push over a formerly immutable tag with FEATURE_IMMUTABLE_TAGS off: %v", err)
	}
	if err := off.push("acme/app:rel-1", img()); err != nil {
		t.Fatalf("push over a tag of a policy with FEATURE_IMMUTABLE_TAGS off: %v", err)
	}
	// The flag is neither shown, nor set, nor cleared.
	off.call("alice", "PUT", "/api/v1/repository/acme/app/tag/v1", map[string]any{"immutable": true}, http.StatusCreated)
	off.call("alice", "PUT", "/api/v1/repository/acme/app/tag/keep", map[string]any{"immutable": false}, http.StatusCreated)
	tags := off.call("alice", "GET", "/api/v1/repository/acme/app/tag/?onlyActiveTags=true", nil, http.StatusOK)["tags"].([]any)
	for _, tg := range tags {
		if m := tg.(map[string]any); m["immutable"] == true {
			t.Errorf("tag %v shows immutable with the feature off", m["name"])
		}
	}
	if err := off.push("acme/app:v1", img()); err != nil {
		t.Fatalf("the flag set with the feature off took effect: %v", err)
	}
	off.call("alice", "DELETE", "/api/v1/repository/acme/app/tag/rel-1", nil, http.StatusNoContent)
	off.close()

	// On again: the flag kept from before and the policy hold again; the
	// flag requested while off was not set.
	again := startLifecycle(t, dir, nil)
	wantRegistryError(t, again.push("acme/app:keep", img()), http.StatusConflict, "TAG_IMMUTABLE", "keep")
	if err := again.push("acme/app:rel-2", img()); err != nil {
		t.Fatal(err)
	}
	wantRegistryError(t, again.push("acme/app:rel-2", img()), http.StatusConflict, "TAG_IMMUTABLE", "rel-2")
	if err := again.push("acme/app:v1", img()); err != nil {
		t.Fatalf("v1 (flag requested while off): %v", err)
	}
}
