package registry

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// labelledImage uploads an image config carrying labels (as `docker build
// --label` writes them) and a layer, and returns a manifest naming them.
func (e *env) labelledImage(repo, seed string, labels map[string]string) manifestDoc {
	e.t.Helper()
	cfg := mustJSON(e.t, map[string]any{"architecture": "amd64", "os": "linux", "seed": seed,
		"config": map[string]any{"Labels": labels}, "rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}})
	layer := []byte("layer " + seed)
	return manifestDoc{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeOCIManifest,
		"config":        descriptor("application/vnd.oci.image.config.v1+json", e.pushBlob(repo, cfg), len(cfg)),
		"layers":        []any{descriptor("application/vnd.oci.image.layer.v1.tar", e.pushBlob(repo, layer), len(layer))},
	}
}

// currentTag returns the current row of a tag from the store's history.
func (e *env) currentTag(repo, name string) core.Tag {
	e.t.Helper()
	tags, _, err := e.db.TagHistory(e.t.Context(), repo, store.TagHistoryQuery{ActiveOnly: true, Name: name, Window: time.Hour})
	if err != nil || len(tags) != 1 {
		e.t.Fatalf("tag %s of %s: %v, %+v", name, repo, err, tags)
	}
	return tags[0]
}

func TestPushExpiresAfterLabel(t *testing.T) {
	e := newEnv(t, Options{})
	doc := e.labelledImage("org/app", "one", map[string]string{"quay.expires-after": "2w", "maintainer": "me"})
	r, _ := e.putManifest("org/app", "nightly", doc)
	r.want(t, http.StatusCreated, "")
	if d := time.Until(e.currentTag("org/app", "nightly").Expires); d < 13*24*time.Hour || d > 15*24*time.Hour {
		t.Fatalf("config label: expires in %s", d)
	}
	// The manifest's annotations override the config's labels.
	doc = e.labelledImage("org/app", "two", map[string]string{"quay.expires-after": "2w"})
	doc["annotations"] = map[string]string{"quay.expires-after": "1d"}
	r, _ = e.putManifest("org/app", "daily", doc)
	r.want(t, http.StatusCreated, "")
	if d := time.Until(e.currentTag("org/app", "daily").Expires); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("annotation: expires in %s", d)
	}
	// A Docker image config counts the same; no label, no expiry.
	doc = e.labelledImage("org/app", "three", nil)
	doc["mediaType"] = oci.MediaTypeDockerManifest
	cfg := doc["config"].(map[string]any)
	cfg["mediaType"] = "application/vnd.docker.container.image.v1+json"
	r, _ = e.putManifest("org/app", "plain", doc)
	r.want(t, http.StatusCreated, "")
	if exp := e.currentTag("org/app", "plain").Expires; !exp.IsZero() {
		t.Fatalf("no label, expires %s", exp)
	}
}

func TestExpiredTagAnswers404(t *testing.T) {
	e := newEnv(t, Options{})
	d, _ := e.pushImage("org/app", "short", "short")
	e.pushImage("org/app", "keep", "keep")
	past := time.Now().Add(-time.Second)
	if err := e.db.ChangeTag(t.Context(), "org/app", "short", store.TagChange{Expiration: &past}); err != nil {
		t.Fatal(err)
	}
	// Before any sweep.
	e.get("/v2/org/app/manifests/short").want(t, http.StatusNotFound, "TAG_EXPIRED")
	e.head("/v2/org/app/manifests/short").want(t, http.StatusNotFound, "")
	e.get("/v2/org/app/manifests/"+string(d)).want(t, http.StatusOK, "")
	if body := string(e.get("/v2/org/app/tags/list").want(t, http.StatusOK, "").body); strings.Contains(body, "short") {
		t.Fatalf("tags/list lists an expired tag: %s", body)
	}
	e.del("/v2/org/app/manifests/short").want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
	// A push brings it back.
	e.pushImage("org/app", "short", "again")
	e.get("/v2/org/app/manifests/short").want(t, http.StatusOK, "")
}

func TestImmutableTagOnV2(t *testing.T) {
	e := newEnv(t, Options{})
	doc := e.labelledImage("org/app", "one", map[string]string{"quay.immutable": "true", "quay.expires-after": "1d"})
	r, body := e.putManifest("org/app", "v1", doc)
	r.want(t, http.StatusCreated, "")
	d1 := digest.FromBytes(body)
	if tg := e.currentTag("org/app", "v1"); !tg.Immutable || !tg.Expires.IsZero() {
		t.Fatalf("immutable label: %+v", tg)
	}
	// Overwriting is refused, naming the tag and the rule; nothing is stored.
	r, other := e.putManifest("org/app", "v1", e.imageManifest("org/app", "two"))
	r.want(t, http.StatusConflict, "TAG_IMMUTABLE")
	if msg := string(r.body); !strings.Contains(msg, `\"v1\"`) || !strings.Contains(msg, "marked immutable") {
		t.Fatalf("refusal: %s", msg)
	}
	e.get("/v2/org/app/manifests/"+string(digest.FromBytes(other))).want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
	// Pushing the same manifest again is fine; so is the refused one by digest.
	r, _ = e.putManifest("org/app", "v1", doc)
	r.want(t, http.StatusCreated, "")
	r, _ = e.putManifest("org/app", string(digest.FromBytes(other)), e.imageManifest("org/app", "two"))
	r.want(t, http.StatusCreated, "")
	// Neither the tag nor its manifest can be deleted.
	e.del("/v2/org/app/manifests/v1").want(t, http.StatusConflict, "TAG_IMMUTABLE")
	e.del("/v2/org/app/manifests/"+string(d1)).want(t, http.StatusConflict, "TAG_IMMUTABLE")
	e.get("/v2/org/app/manifests/v1").want(t, http.StatusOK, "")

	// A policy: tags matching v.* in the namespace.
	if _, err := e.db.CreateOrganization(t.Context(), "acme", "", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateImmutabilityPolicy(t.Context(), core.ImmutabilityPolicy{Namespace: "acme", TagPattern: "v.*", TagPatternMatches: true}); err != nil {
		t.Fatal(err)
	}
	e.pushImage("acme/app", "v2", "one")
	e.pushImage("acme/app", "latest", "one")
	e.pushImage("acme/app", "latest", "two")
	r, _ = e.putManifest("acme/app", "v2", e.imageManifest("acme/app", "two"))
	r.want(t, http.StatusConflict, "TAG_IMMUTABLE")
	if !strings.Contains(string(r.body), "organization immutability policy") {
		t.Fatalf("refusal does not name the policy: %s", r.body)
	}
}

func TestReadOnlyRepositoryOnV2(t *testing.T) {
	e := newEnv(t, Options{})
	d, _ := e.pushImage("org/app", "latest", "one")
	st := core.RepoStateReadOnly
	if _, err := e.db.UpdateRepository(t.Context(), "org/app", store.RepositoryUpdate{State: &st}); err != nil {
		t.Fatal(err)
	}
	e.send(http.MethodPost, "/v2/org/app/blobs/uploads/", nil).want(t, http.StatusMethodNotAllowed, "DENIED")
	r, _ := e.putManifest("org/app", "latest", e.imageManifest("org/other", "two"))
	r.want(t, http.StatusMethodNotAllowed, "DENIED")
	if !strings.Contains(string(r.body), "read-only") {
		t.Fatalf("refusal does not say why: %s", r.body)
	}
	e.del("/v2/org/app/manifests/latest").want(t, http.StatusMethodNotAllowed, "DENIED")
	e.get("/v2/org/app/manifests/latest").want(t, http.StatusOK, "")
	e.get("/v2/org/app/manifests/"+string(d)).want(t, http.StatusOK, "")
	e.get("/v2/org/app/tags/list").want(t, http.StatusOK, "")
	st = core.RepoStateMirror
	if _, err := e.db.UpdateRepository(t.Context(), "org/app", store.RepositoryUpdate{State: &st}); err != nil {
		t.Fatal(err)
	}
	e.del("/v2/org/app/manifests/latest").want(t, http.StatusMethodNotAllowed, "DENIED")
}
