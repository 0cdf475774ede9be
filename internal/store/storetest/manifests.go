package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

func testPutManifest(t *testing.T, db *store.DB) {
	ctx := t.Context()
	img := image{repo: "org/app", seed: "one", tags: []string{"latest", "v1"}, annotations: map[string]string{"a": "1", "b": "two"}}
	put := img.build(t, db)
	noErr(t, db.PutManifest(ctx, put), "PutManifest")
	repo, err := db.Repository(ctx, "org/app")
	noErr(t, err, "Repository")

	for _, ref := range []oci.Reference{byTag("latest"), byTag("v1"), byDigest(put.Digest)} {
		m := mustManifest(t, db, "org/app", ref)
		if m.Digest != put.Digest || !bytes.Equal(m.Content, put.Content) || m.Size != int64(len(put.Content)) {
			t.Fatalf("%s: digest %s size %d content %q", ref, m.Digest, m.Size, m.Content)
		}
		if m.MediaType != put.MediaType || m.ArtifactType != put.ArtifactType || m.ConfigMediaType != put.ConfigMediaType {
			t.Fatalf("%s: media type %q artifact type %q config %q", ref, m.MediaType, m.ArtifactType, m.ConfigMediaType)
		}
		if m.RepositoryID != repo.ID || m.ID == 0 || m.Subject != "" || m.CreatedAt.IsZero() {
			t.Fatalf("%s: %+v", ref, m)
		}
		if !maps.Equal(m.Annotations, img.annotations) {
			t.Fatalf("%s: annotations %v", ref, m.Annotations)
		}
	}
	wantTags(t, db, "org/app", "latest", "v1")

	// A push without tags (by digest) and without annotations.
	bare := image{repo: "org/app", seed: "two"}.build(t, db)
	noErr(t, db.PutManifest(ctx, bare), "PutManifest by digest")
	m := mustManifest(t, db, "org/app", byDigest(bare.Digest))
	if len(m.Annotations) != 0 {
		t.Fatalf("annotations %v", m.Annotations)
	}
	wantTags(t, db, "org/app", "latest", "v1")
}

func testPutManifestMissingBlob(t *testing.T, db *store.DB) {
	ctx := t.Context()
	cfg := blob(t, db, "org/app", "config")
	missing := digest.FromString("never uploaded")
	elsewhere := blob(t, db, "org/other", "only in another repository")

	for _, blobs := range [][]digest.Digest{{cfg, missing}, {cfg, elsewhere}, {missing}} {
		put := image{repo: "org/app", seed: "x", tags: []string{"latest"}}.buildWith(t, blobs...)
		err := db.PutManifest(ctx, put)
		wantCode(t, err, core.CodeManifestBlobUnknown)
		var ce *core.Error
		if !errors.As(err, &ce) || ce.Msg == "" {
			t.Fatalf("no message on %v", err)
		}
		// Nothing was written.
		_, err = db.Manifest(ctx, "org/app", byDigest(put.Digest))
		wantCode(t, err, core.CodeManifestUnknown)
		_, err = db.Manifest(ctx, "org/app", byTag("latest"))
		wantCode(t, err, core.CodeManifestUnknown)
		wantTags(t, db, "org/app")
	}
}

func testPutManifestMissingBlobNewRepo(t *testing.T, db *store.DB) {
	ctx := t.Context()
	put := image{repo: "org/new", seed: "x", tags: []string{"latest"}}.buildWith(t, digest.FromString("a"), digest.FromString("b"))
	wantCode(t, db.PutManifest(ctx, put), core.CodeManifestBlobUnknown)
	// The repository a failed push would have created does not exist either.
	_, err := db.Repository(ctx, "org/new")
	wantCode(t, err, core.CodeNameUnknown)
	_, err = db.Manifest(ctx, "org/new", byDigest(put.Digest))
	wantCode(t, err, core.CodeNameUnknown)
}

func testPutManifestAllowMissing(t *testing.T, db *store.DB) {
	ctx := t.Context()
	cfg := blob(t, db, "org/app", "config")
	put := image{repo: "org/app", seed: "sparse", tags: []string{"sparse"}}.buildWith(t, cfg, digest.FromString("missing layer"))
	put.AllowMissingBlobs = true
	noErr(t, db.PutManifest(ctx, put), "PutManifest sparse")
	m := mustManifest(t, db, "org/app", byTag("sparse"))
	if m.Digest != put.Digest {
		t.Fatalf("got %s", m.Digest)
	}
	// With no blob present at all, and into a new repository.
	none := image{repo: "org/fresh", seed: "sparse"}.buildWith(t, digest.FromString("x"))
	none.AllowMissingBlobs = true
	noErr(t, db.PutManifest(ctx, none), "PutManifest sparse, no blobs")
	mustManifest(t, db, "org/fresh", byDigest(none.Digest))
}

func testPutManifestInvalidRepo(t *testing.T, db *store.DB) {
	put := image{repo: "Org/App", seed: "x"}.buildWith(t, digest.FromString("c"))
	put.AllowMissingBlobs = true
	wantCode(t, db.PutManifest(t.Context(), put), core.CodeNameInvalid)
}

func testPutIndex(t *testing.T, db *store.DB) {
	ctx := t.Context()
	child := image{repo: "org/app", seed: "child"}.push(t, db)
	content := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":1},{"mediaType":%q,"digest":%q,"size":1}]}`,
		oci.MediaTypeOCIIndex, oci.MediaTypeOCIManifest, child, oci.MediaTypeOCIManifest, digest.FromString("absent child")))
	put := store.PutManifest{
		Repository: "org/app",
		Digest:     digest.FromBytes(content),
		MediaType:  oci.MediaTypeOCIIndex,
		Content:    content,
		Children:   []digest.Digest{child, digest.FromString("absent child"), child},
		Tags:       []string{"multi"},
	}
	noErr(t, db.PutManifest(ctx, put), "PutManifest index")
	m := mustManifest(t, db, "org/app", byTag("multi"))
	if m.MediaType != oci.MediaTypeOCIIndex || m.ArtifactType != "" || m.ConfigMediaType != "" || !bytes.Equal(m.Content, content) {
		t.Fatalf("got %+v", m)
	}
	noErr(t, db.PutManifest(ctx, put), "PutManifest index again")
}

func testRePush(t *testing.T, db *store.DB) {
	ctx := t.Context()
	put := image{repo: "org/app", seed: "x", tags: []string{"latest"}}.build(t, db)
	noErr(t, db.PutManifest(ctx, put), "PutManifest")
	first := mustManifest(t, db, "org/app", byDigest(put.Digest))
	for i := 0; i < 3; i++ {
		noErr(t, db.PutManifest(ctx, put), "PutManifest again")
	}
	// The same content with different metadata does not change the stored row.
	changed := put
	changed.ArtifactType = "application/vnd.changed"
	changed.Tags = []string{"latest", "other"}
	noErr(t, db.PutManifest(ctx, changed), "PutManifest changed metadata")
	again := mustManifest(t, db, "org/app", byDigest(put.Digest))
	if again.ID != first.ID || !again.CreatedAt.Equal(first.CreatedAt) || again.ArtifactType != first.ArtifactType {
		t.Fatalf("re-push changed the manifest: %+v -> %+v", first, again)
	}
	wantTags(t, db, "org/app", "latest", "other")
}

func testTagMove(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d1 := image{repo: "org/app", seed: "one", tags: []string{"latest", "stable"}}.push(t, db)
	d2 := image{repo: "org/app", seed: "two", tags: []string{"latest"}}.push(t, db)

	if m := mustManifest(t, db, "org/app", byTag("latest")); m.Digest != d2 {
		t.Fatalf("latest -> %s, want %s", m.Digest, d2)
	}
	if m := mustManifest(t, db, "org/app", byTag("stable")); m.Digest != d1 {
		t.Fatalf("stable -> %s, want %s", m.Digest, d1)
	}
	mustManifest(t, db, "org/app", byDigest(d1)) // still served by digest
	wantTags(t, db, "org/app", "latest", "stable")

	// Move back and forth: each move ends the current row and starts a new one.
	for i, want := range []digest.Digest{d1, d2, d1, d1} {
		seed := "one"
		if want == d2 {
			seed = "two"
		}
		got := image{repo: "org/app", seed: seed, tags: []string{"latest"}}.push(t, db)
		if got != want {
			t.Fatalf("push %d: digest %s, want %s", i, got, want)
		}
		if m := mustManifest(t, db, "org/app", byTag("latest")); m.Digest != want {
			t.Fatalf("move %d: latest -> %s, want %s", i, m.Digest, want)
		}
		wantTags(t, db, "org/app", "latest", "stable")
	}

	// A tag moved away from a deleted manifest's digest still resolves.
	noErr(t, db.DeleteManifest(ctx, "org/app", d2), "DeleteManifest")
	if m := mustManifest(t, db, "org/app", byTag("latest")); m.Digest != d1 {
		t.Fatalf("latest -> %s after deleting the old target", m.Digest)
	}
	// Same tag names in another repository are independent.
	d3 := image{repo: "org/other", seed: "three", tags: []string{"latest"}}.push(t, db)
	if m := mustManifest(t, db, "org/app", byTag("latest")); m.Digest != d1 {
		t.Fatalf("org/app latest -> %s", m.Digest)
	}
	if m := mustManifest(t, db, "org/other", byTag("latest")); m.Digest != d3 {
		t.Fatalf("org/other latest -> %s", m.Digest)
	}
}

func testManifestUnknown(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d := image{repo: "org/app", seed: "x", tags: []string{"latest"}}.push(t, db)
	_, err := db.Manifest(ctx, "org/none", byTag("latest"))
	wantCode(t, err, core.CodeNameUnknown)
	_, err = db.Manifest(ctx, "org/none", byDigest(d))
	wantCode(t, err, core.CodeNameUnknown)
	_, err = db.Manifest(ctx, "org/app", byTag("missing"))
	wantCode(t, err, core.CodeManifestUnknown)
	_, err = db.Manifest(ctx, "org/app", byTag("LATEST"))
	wantCode(t, err, core.CodeManifestUnknown)
	_, err = db.Manifest(ctx, "org/app", byDigest(digest.FromString("nope")))
	wantCode(t, err, core.CodeManifestUnknown)
	// A manifest of another repository is not served here.
	_, err = db.EnsureRepository(ctx, "org/b")
	noErr(t, err, "EnsureRepository")
	_, err = db.Manifest(ctx, "org/b", byDigest(d))
	wantCode(t, err, core.CodeManifestUnknown)
}

func testDeleteManifest(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d1 := image{repo: "org/app", seed: "one", tags: []string{"a", "b", "c"}}.push(t, db)
	d2 := image{repo: "org/app", seed: "two", tags: []string{"keep"}}.push(t, db)

	noErr(t, db.DeleteManifest(ctx, "org/app", d1), "DeleteManifest")
	_, err := db.Manifest(ctx, "org/app", byDigest(d1))
	wantCode(t, err, core.CodeManifestUnknown)
	for _, tag := range []string{"a", "b", "c"} {
		_, err := db.Manifest(ctx, "org/app", byTag(tag))
		wantCode(t, err, core.CodeManifestUnknown)
	}
	wantTags(t, db, "org/app", "keep")
	if m := mustManifest(t, db, "org/app", byTag("keep")); m.Digest != d2 {
		t.Fatalf("keep -> %s", m.Digest)
	}
	wantCode(t, db.DeleteTag(ctx, "org/app", "a"), core.CodeManifestUnknown)

	wantCode(t, db.DeleteManifest(ctx, "org/app", d1), core.CodeManifestUnknown)
	wantCode(t, db.DeleteManifest(ctx, "org/app", digest.FromString("nope")), core.CodeManifestUnknown)
	wantCode(t, db.DeleteManifest(ctx, "org/none", d2), core.CodeNameUnknown)

	// A tag can be reused for another manifest after its target was deleted.
	image{repo: "org/app", seed: "two", tags: []string{"a"}}.push(t, db)
	if m := mustManifest(t, db, "org/app", byTag("a")); m.Digest != d2 {
		t.Fatalf("a -> %s", m.Digest)
	}
	wantTags(t, db, "org/app", "a", "keep")
}

func testDeleteRevive(t *testing.T, db *store.DB) {
	ctx := t.Context()
	put := image{repo: "org/app", seed: "x", tags: []string{"latest"}}.build(t, db)
	noErr(t, db.PutManifest(ctx, put), "PutManifest")
	noErr(t, db.DeleteManifest(ctx, "org/app", put.Digest), "DeleteManifest")

	byDig := put
	byDig.Tags = nil
	noErr(t, db.PutManifest(ctx, byDig), "re-push by digest")
	m := mustManifest(t, db, "org/app", byDigest(put.Digest))
	if !bytes.Equal(m.Content, put.Content) {
		t.Fatal("revived content differs")
	}
	// Deleting ended the tag; a push by digest does not bring it back.
	_, err := db.Manifest(ctx, "org/app", byTag("latest"))
	wantCode(t, err, core.CodeManifestUnknown)
	wantTags(t, db, "org/app")

	noErr(t, db.PutManifest(ctx, put), "re-push with tag")
	if m := mustManifest(t, db, "org/app", byTag("latest")); m.Digest != put.Digest {
		t.Fatalf("latest -> %s", m.Digest)
	}
	wantTags(t, db, "org/app", "latest")

	// And it can be deleted again.
	noErr(t, db.DeleteManifest(ctx, "org/app", put.Digest), "DeleteManifest again")
	wantTags(t, db, "org/app")
}

func testDeleteOtherRepo(t *testing.T, db *store.DB) {
	ctx := t.Context()
	a := image{repo: "org/a", seed: "same", tags: []string{"latest"}}.build(t, db)
	b := a
	b.Repository = "org/b"
	noErr(t, db.CommitBlob(ctx, "org/b", a.Blobs[0], 1, ""), "CommitBlob")
	noErr(t, db.CommitBlob(ctx, "org/b", a.Blobs[1], 1, ""), "CommitBlob")
	noErr(t, db.PutManifest(ctx, a), "PutManifest a")
	noErr(t, db.PutManifest(ctx, b), "PutManifest b")

	noErr(t, db.DeleteManifest(ctx, "org/a", a.Digest), "DeleteManifest")
	_, err := db.Manifest(ctx, "org/a", byTag("latest"))
	wantCode(t, err, core.CodeManifestUnknown)
	if m := mustManifest(t, db, "org/b", byTag("latest")); m.Digest != a.Digest {
		t.Fatalf("org/b latest -> %s", m.Digest)
	}
	mustManifest(t, db, "org/b", byDigest(a.Digest))
}

func testDeleteTag(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d := image{repo: "org/app", seed: "x", tags: []string{"latest", "v1"}}.push(t, db)
	noErr(t, db.DeleteTag(ctx, "org/app", "latest"), "DeleteTag")
	_, err := db.Manifest(ctx, "org/app", byTag("latest"))
	wantCode(t, err, core.CodeManifestUnknown)
	mustManifest(t, db, "org/app", byDigest(d))
	if m := mustManifest(t, db, "org/app", byTag("v1")); m.Digest != d {
		t.Fatalf("v1 -> %s", m.Digest)
	}
	wantTags(t, db, "org/app", "v1")

	wantCode(t, db.DeleteTag(ctx, "org/app", "latest"), core.CodeManifestUnknown)
	wantCode(t, db.DeleteTag(ctx, "org/app", "never"), core.CodeManifestUnknown)
	wantCode(t, db.DeleteTag(ctx, "org/none", "v1"), core.CodeNameUnknown)

	// The tag can be set again.
	image{repo: "org/app", seed: "x", tags: []string{"latest"}}.push(t, db)
	wantTags(t, db, "org/app", "latest", "v1")
	noErr(t, db.DeleteTag(ctx, "org/app", "latest"), "DeleteTag again")
	wantTags(t, db, "org/app", "v1")
}

// tagNames differ in characters whose byte order differs from many collations.
var tagNames = []string{"v1", "latest", "a_b", "a0", "a.b", "a-b", "a", "_x", "Z", "A", "a--b", "V1", "0"}

func testTagsPagination(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, err := db.Tags(ctx, "org/none", "", 0)
	wantCode(t, err, core.CodeNameUnknown)
	_, err = db.EnsureRepository(ctx, "org/app")
	noErr(t, err, "EnsureRepository")
	wantTags(t, db, "org/app")

	d1 := image{repo: "org/app", seed: "one", tags: tagNames[:7]}.push(t, db)
	image{repo: "org/app", seed: "two", tags: tagNames[7:]}.push(t, db)
	image{repo: "org/other", seed: "three", tags: []string{"other-repo-tag"}}.push(t, db)
	want := slices.Clone(tagNames)
	slices.Sort(want)
	wantTags(t, db, "org/app", want...)

	for _, size := range []int{1, 2, 4, len(want), len(want) + 3} {
		var all []string
		last := ""
		for pages := 0; ; pages++ {
			if pages > len(want)+1 {
				t.Fatalf("n=%d: pagination does not end", size)
			}
			page, err := db.Tags(ctx, "org/app", last, size)
			noErr(t, err, "Tags page")
			if len(page) > size {
				t.Fatalf("n=%d: page of %d", size, len(page))
			}
			all = append(all, page...)
			if len(page) < size {
				break
			}
			last = page[len(page)-1]
		}
		if !slices.Equal(all, want) {
			t.Fatalf("n=%d: pages %q, want %q", size, all, want)
		}
	}
	got, err := db.Tags(ctx, "org/app", "a1", 2)
	noErr(t, err, "Tags last=a1")
	if !slices.Equal(got, []string{"a_b", "latest"}) {
		t.Fatalf("Tags(last=a1, 2) = %q", got)
	}
	// Ended tags are not listed.
	noErr(t, db.DeleteManifest(ctx, "org/app", d1), "DeleteManifest")
	want = slices.Clone(tagNames[7:])
	slices.Sort(want)
	wantTags(t, db, "org/app", want...)
}

func testReferrers(t *testing.T, db *store.DB) {
	ctx := t.Context()
	const sbom, sig = "application/vnd.example.sbom", "application/vnd.example.signature"
	subject := image{repo: "org/app", seed: "subject", tags: []string{"latest"}}.push(t, db)
	put := func(repo, seed, at string, ann map[string]string) store.PutManifest {
		p := image{repo: repo, seed: seed, artifactType: at, subject: subject, annotations: ann}.build(t, db)
		noErr(t, db.PutManifest(ctx, p), "PutManifest referrer")
		return p
	}
	r1 := put("org/app", "sbom 1", sbom, map[string]string{"org.opencontainers.image.created": "now"})
	r2 := put("org/app", "sig", sig, nil)
	r3 := put("org/app", "sbom 2", sbom, nil)
	put("org/other", "sbom elsewhere", sbom, nil)
	image{repo: "org/app", seed: "unrelated", artifactType: sbom}.push(t, db)

	got, err := db.Referrers(ctx, "org/app", subject, "")
	noErr(t, err, "Referrers")
	wantDigests := []digest.Digest{r1.Digest, r2.Digest, r3.Digest}
	slices.Sort(wantDigests)
	if len(got) != 3 {
		t.Fatalf("got %d referrers: %+v", len(got), got)
	}
	byD := map[digest.Digest]store.PutManifest{r1.Digest: r1, r2.Digest: r2, r3.Digest: r3}
	for i, desc := range got {
		if desc.Digest != wantDigests[i] {
			t.Fatalf("referrer %d is %s, want %s (ordered by digest)", i, desc.Digest, wantDigests[i])
		}
		p := byD[desc.Digest]
		if desc.MediaType != oci.MediaTypeOCIManifest || desc.Size != int64(len(p.Content)) || desc.ArtifactType != p.ArtifactType {
			t.Fatalf("descriptor %+v for %+v", desc, p.ArtifactType)
		}
		if !maps.Equal(desc.Annotations, p.Annotations) {
			t.Fatalf("annotations %v, want %v", desc.Annotations, p.Annotations)
		}
	}

	got, err = db.Referrers(ctx, "org/app", subject, sbom)
	noErr(t, err, "Referrers sbom")
	if len(got) != 2 || got[0].ArtifactType != sbom || got[1].ArtifactType != sbom {
		t.Fatalf("sbom filter: %+v", got)
	}
	got, err = db.Referrers(ctx, "org/app", subject, sig)
	noErr(t, err, "Referrers sig")
	if len(got) != 1 || got[0].Digest != r2.Digest {
		t.Fatalf("sig filter: %+v", got)
	}
	got, err = db.Referrers(ctx, "org/app", subject, "application/vnd.none")
	noErr(t, err, "Referrers none")
	if len(got) != 0 {
		t.Fatalf("unknown artifact type: %+v", got)
	}
	got, err = db.Referrers(ctx, "org/app", r1.Digest, "")
	noErr(t, err, "Referrers of a referrer")
	if len(got) != 0 {
		t.Fatalf("referrers of r1: %+v", got)
	}
	// A subject the repository does not hold may still have referrers.
	ghost := digest.FromString("not pushed")
	p := image{repo: "org/app", seed: "orphan", artifactType: sig, subject: ghost}.build(t, db)
	noErr(t, db.PutManifest(ctx, p), "PutManifest orphan referrer")
	got, err = db.Referrers(ctx, "org/app", ghost, "")
	noErr(t, err, "Referrers ghost")
	if len(got) != 1 || got[0].Digest != p.Digest {
		t.Fatalf("ghost referrers: %+v", got)
	}
	// An unknown repository has no referrers.
	got, err = db.Referrers(ctx, "org/none", subject, "")
	if len(got) != 0 || (err != nil && !core.IsCode(err, core.CodeNameUnknown)) {
		t.Fatalf("unknown repository: %+v, %v", got, err)
	}
}

func testReferrersDeleted(t *testing.T, db *store.DB) {
	ctx := t.Context()
	subject := image{repo: "org/app", seed: "subject"}.push(t, db)
	r1 := image{repo: "org/app", seed: "r1", artifactType: "a/b", subject: subject}.push(t, db)
	r2 := image{repo: "org/app", seed: "r2", artifactType: "a/b", subject: subject}.push(t, db)

	noErr(t, db.DeleteManifest(ctx, "org/app", r1), "DeleteManifest")
	got, err := db.Referrers(ctx, "org/app", subject, "")
	noErr(t, err, "Referrers")
	if len(got) != 1 || got[0].Digest != r2 {
		t.Fatalf("after delete: %+v", got)
	}
	// Deleting the subject does not hide its referrers.
	noErr(t, db.DeleteManifest(ctx, "org/app", subject), "DeleteManifest subject")
	got, err = db.Referrers(ctx, "org/app", subject, "a/b")
	noErr(t, err, "Referrers")
	if len(got) != 1 {
		t.Fatalf("after deleting the subject: %+v", got)
	}
	// Re-pushing the deleted referrer lists it again.
	image{repo: "org/app", seed: "r1", artifactType: "a/b", subject: subject}.push(t, db)
	got, err = db.Referrers(ctx, "org/app", subject, "")
	noErr(t, err, "Referrers")
	if len(got) != 2 {
		t.Fatalf("after re-push: %+v", got)
	}
}

func testConcurrentSame(t *testing.T, db *store.DB) {
	ctx := t.Context()
	put := image{repo: "org/app", seed: "x", tags: []string{"latest"}}.build(t, db)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.PutManifest(ctx, put)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("push %d: %v", i, err)
		}
	}
	wantTags(t, db, "org/app", "latest")
	if m := mustManifest(t, db, "org/app", byTag("latest")); m.Digest != put.Digest {
		t.Fatalf("latest -> %s", m.Digest)
	}
}

func testConcurrentTag(t *testing.T, db *store.DB) {
	ctx := t.Context()
	puts := make([]store.PutManifest, 8)
	for i := range puts {
		puts[i] = image{repo: "org/app", seed: fmt.Sprint("img ", i), tags: []string{"latest"}}.build(t, db)
	}
	errs := make([]error, len(puts))
	var wg sync.WaitGroup
	for i := range puts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.PutManifest(ctx, puts[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("push %d: %v", i, err)
		}
	}
	wantTags(t, db, "org/app", "latest")
	m := mustManifest(t, db, "org/app", byTag("latest"))
	found := false
	for _, p := range puts {
		mustManifest(t, db, "org/app", byDigest(p.Digest))
		found = found || p.Digest == m.Digest
	}
	if !found {
		t.Fatalf("latest -> %s, none of the pushed manifests", m.Digest)
	}
}
