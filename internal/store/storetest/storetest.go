// Package storetest is the conformance suite every store.DB backend must pass
// (SQLite and PostgreSQL). A backend's tests call Run with a constructor for
// an empty, migrated database. The suite uses only the public API of store.DB
// and makes no assumption about the SQL dialect.
package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// Run runs the whole suite. open returns an empty database for one subtest;
// its clock must advance with real time (Options.Now unset or time.Now).
func Run(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"Ping", testPing},
		{"EnsureAndGetRepository", testEnsureRepository},
		{"EnsureRepositoryInvalidName", testEnsureRepositoryInvalid},
		{"CatalogByteOrder", testCatalogOrder},
		{"CatalogPagination", testCatalogPagination},
		{"CommitBlob", testCommitBlob},
		{"CommitBlobEndsUpload", testCommitBlobEndsUpload},
		{"CommitBlobInvalidRepository", testCommitBlobInvalidRepo},
		{"MountBlobFrom", testMountFrom},
		{"MountBlobAnySource", testMountAny},
		{"MountBlobCanReadDenies", testMountDenied},
		{"UnlinkBlob", testUnlinkBlob},
		{"UploadLifecycle", testUploadLifecycle},
		{"UploadWrongRepository", testUploadWrongRepo},
		{"UploadDuplicateID", testUploadDuplicate},
		{"TouchAndStaleUploads", testStaleUploads},
		{"PutManifestAndGet", testPutManifest},
		{"PutManifestMissingBlob", testPutManifestMissingBlob},
		{"PutManifestMissingBlobNewRepository", testPutManifestMissingBlobNewRepo},
		{"PutManifestAllowMissingBlobs", testPutManifestAllowMissing},
		{"PutManifestInvalidRepository", testPutManifestInvalidRepo},
		{"PutIndexSparseChildren", testPutIndex},
		{"RePushIsIdempotent", testRePush},
		{"TagMove", testTagMove},
		{"ManifestUnknown", testManifestUnknown},
		{"DeleteManifest", testDeleteManifest},
		{"DeleteManifestRePushRevives", testDeleteRevive},
		{"DeleteManifestOtherRepository", testDeleteOtherRepo},
		{"DeleteTag", testDeleteTag},
		{"TagsPagination", testTagsPagination},
		{"Referrers", testReferrers},
		{"ReferrersExcludeDeleted", testReferrersDeleted},
		{"ConcurrentPutSameManifest", testConcurrentSame},
		{"ConcurrentPutSameTag", testConcurrentTag},
	}
	tests = append(tests, lifecycleTests...)
	tests = append(tests, autopruneTests...)
	tests = append(tests, quotaTests...)
	tests = append(tests, scannerTests...)
	tests = append(tests, notificationTests...)
	tests = append(tests, eventTests...)
	tests = append(tests, gcTests...)
	tests = append(tests, overviewTests...)
	tests = append(tests, auditTests...)
	tests = append(tests, proxyCacheTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, err error, code core.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", code)
	}
	var ce *core.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *core.Error; want %v", err, err, code)
	}
	if ce.Code != code {
		t.Fatalf("error %q has code %v, want %v", err, ce.Code, code)
	}
}

func noErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// blob records a blob with the given content in repo and returns its digest.
func blob(t *testing.T, db *store.DB, repo, content string) digest.Digest {
	t.Helper()
	d := digest.FromString(content)
	noErr(t, db.CommitBlob(t.Context(), repo, d, int64(len(content)), ""), "CommitBlob "+repo)
	return d
}

// image is a manifest to push: the PutManifest fields are derived from it.
type image struct {
	repo         string
	seed         string // makes the content unique
	artifactType string
	subject      digest.Digest
	annotations  map[string]string
	tags         []string
}

// build returns the PutManifest for img, committing its blobs first.
func (img image) build(t *testing.T, db *store.DB) store.PutManifest {
	t.Helper()
	cfg := blob(t, db, img.repo, "config "+img.seed)
	layer := blob(t, db, img.repo, "layer "+img.seed)
	return img.buildWith(t, cfg, layer)
}

// buildWith returns the PutManifest for img referencing the given blobs
// (which need not be in the repository).
func (img image) buildWith(t *testing.T, blobs ...digest.Digest) store.PutManifest {
	t.Helper()
	var layers []map[string]any
	for _, b := range blobs[1:] {
		layers = append(layers, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": b, "size": 1})
	}
	doc := map[string]any{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeOCIManifest,
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blobs[0], "size": 1},
		"layers":        layers,
		"annotations":   map[string]string{"seed": img.seed},
	}
	if img.artifactType != "" {
		doc["artifactType"] = img.artifactType
	}
	if img.subject != "" {
		doc["subject"] = map[string]any{"mediaType": oci.MediaTypeOCIManifest, "digest": img.subject, "size": 1}
	}
	content, err := json.Marshal(doc)
	noErr(t, err, "marshal manifest")
	at := img.artifactType
	if at == "" {
		at = "application/vnd.oci.image.config.v1+json"
	}
	return store.PutManifest{
		Repository:      img.repo,
		Digest:          digest.FromBytes(content),
		MediaType:       oci.MediaTypeOCIManifest,
		ArtifactType:    at,
		ConfigMediaType: "application/vnd.oci.image.config.v1+json",
		Subject:         img.subject,
		Annotations:     img.annotations,
		Content:         content,
		LayersSize:      int64(len(blobs) - 1),
		Blobs:           blobs,
		Tags:            img.tags,
	}
}

// push stores img and returns its digest.
func (img image) push(t *testing.T, db *store.DB) digest.Digest {
	t.Helper()
	m := img.build(t, db)
	noErr(t, db.PutManifest(t.Context(), m), fmt.Sprintf("PutManifest %s %s", img.repo, img.seed))
	return m.Digest
}

func byTag(tag string) oci.Reference         { return oci.Reference{Tag: tag} }
func byDigest(d digest.Digest) oci.Reference { return oci.Reference{Digest: d} }
func mustManifest(t *testing.T, db *store.DB, repo string, ref oci.Reference) core.Manifest {
	t.Helper()
	m, err := db.Manifest(t.Context(), repo, ref)
	noErr(t, err, fmt.Sprintf("Manifest %s %s", repo, ref))
	return m
}

func wantTags(t *testing.T, db *store.DB, repo string, want ...string) {
	t.Helper()
	got, err := db.Tags(t.Context(), repo, "", 0)
	noErr(t, err, "Tags "+repo)
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != len(want) {
		t.Fatalf("Tags(%s) = %q, want %q", repo, got, want)
	}
}

func testPing(t *testing.T, db *store.DB) {
	noErr(t, db.Ping(t.Context()), "Ping")
}
