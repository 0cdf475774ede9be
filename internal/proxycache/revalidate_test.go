package proxycache_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/oci"
)

// A range request for a blob not fetched yet answers exactly the requested
// bytes (206, Content-Range), alone or while another client downloads the
// whole blob; the blob is fetched upstream once.
func TestColdRangeRequest(t *testing.T) {
	e := newEnv(t, "")
	img := randomImage(t, 64<<10, 1)
	e.up.push(t, "library/r:1", img)
	if _, err := remote.Get(e.ref("cache/library/r:1"), remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	layer, size := m.Layers[0].Digest.String(), m.Layers[0].Size
	rc, err := mustLayer(t, img).Compressed()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(rc)
	rc.Close()
	url := e.srv.URL + "/v2/cache/library/r/blobs/" + layer
	get := func(rng string) (int, string, []byte, error) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			return 0, "", nil, err
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Range"), b, err
	}
	// A cold range, and a whole download and another range at the same time.
	type result struct {
		rng    string
		status int
		cr     string
		body   []byte
		err    error
	}
	ranges := []string{"bytes=10-99", "", fmt.Sprintf("bytes=%d-", size-7)}
	results := make([]result, len(ranges))
	var wg sync.WaitGroup
	for i, rng := range ranges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, cr, b, err := get(rng)
			results[i] = result{rng, st, cr, b, err}
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("GET %q: %v", r.rng, r.err)
		}
		switch r.rng {
		case "":
			if r.status != http.StatusOK || string(r.body) != string(want) {
				t.Errorf("whole blob: %d, %d bytes", r.status, len(r.body))
			}
		case "bytes=10-99":
			if r.status != http.StatusPartialContent || r.cr != fmt.Sprintf("bytes 10-99/%d", size) || string(r.body) != string(want[10:100]) {
				t.Errorf("range %s: %d, Content-Range %q, %d bytes", r.rng, r.status, r.cr, len(r.body))
			}
		default:
			if r.status != http.StatusPartialContent || r.cr != fmt.Sprintf("bytes %d-%d/%d", size-7, size-1, size) || string(r.body) != string(want[size-7:]) {
				t.Errorf("range %s: %d, Content-Range %q, %d bytes", r.rng, r.status, r.cr, len(r.body))
			}
		}
	}
	if n := e.up.count("GET", "/v2/library/r/blobs/"+layer); n != 1 {
		t.Fatalf("upstream served the blob %d times, want 1", n)
	}
	// An unsatisfiable range on a cold blob of another image: 416.
	img2 := randomImage(t, 1024, 1)
	e.up.push(t, "library/r2:1", img2)
	if _, err := remote.Get(e.ref("cache/library/r2:1"), remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	m2, _ := img2.Manifest()
	url = e.srv.URL + "/v2/cache/library/r2/blobs/" + m2.Layers[0].Digest.String()
	if st, cr, _, err := get(fmt.Sprintf("bytes=%d-", m2.Layers[0].Size+10)); err != nil || st != http.StatusRequestedRangeNotSatisfiable ||
		cr != fmt.Sprintf("bytes */%d", m2.Layers[0].Size) {
		t.Fatalf("unsatisfiable cold range: %d, %q, %v", st, cr, err)
	}
}

func mustLayer(t *testing.T, img v1.Image) v1.Layer {
	t.Helper()
	ls, err := img.Layers()
	if err != nil || len(ls) == 0 {
		t.Fatalf("layers: %v", err)
	}
	return ls[0]
}

// A tag removed upstream is removed from the cache when its revalidation
// finds it gone, and pulls answer MANIFEST_UNKNOWN; an upstream outage
// keeps the cached tag served.
func TestUpstreamTagRemoved(t *testing.T) {
	testUpstreamTagRemoved(t, "")
}

func testUpstreamTagRemoved(t *testing.T, dsn string) {
	e := newEnv(t, dsn)
	ctx := t.Context()
	gone, kept := randomImage(t, 1024, 1), randomImage(t, 1024, 1)
	e.up.push(t, "library/gone:1", gone)
	e.up.push(t, "library/kept:1", kept)
	for _, r := range []string{"cache/library/gone:1", "cache/library/kept:1"} {
		if _, err := e.pull(r); err != nil {
			t.Fatalf("pull %s: %v", r, err)
		}
	}
	if err := remote.Delete(upRef(t, e, "library/gone:1"), remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	// Still fresh: served from the cache without asking.
	if d, err := e.pull("cache/library/gone:1"); err != nil || d != digestOf(t, gone) {
		t.Fatalf("pull of a fresh cached tag: %s, %v", d, err)
	}
	e.clock.advance(expiration + time.Second)
	_, err := remote.Image(e.ref("cache/library/gone:1"), remote.WithContext(ctx), remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
	wantCode(t, err, "MANIFEST_UNKNOWN")
	if tags, err := e.db.Tags(ctx, "cache/library/gone", "", 0); err != nil || len(tags) != 0 {
		t.Fatalf("tags after the upstream removed it: %v, %v", tags, err)
	}
	// Again: the upstream is asked (the tag may come back), and it is
	// still gone.
	_, err = remote.Image(e.ref("cache/library/gone:1"), remote.WithContext(ctx), remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
	wantCode(t, err, "MANIFEST_UNKNOWN")

	// Outage: the upstream answers 503; the expired cached tag is served.
	e.up.down.Store(true)
	if d, err := e.pull("cache/library/kept:1"); err != nil || d != digestOf(t, kept) {
		t.Fatalf("pull during an outage: %s, %v", d, err)
	}
	if tags, err := e.db.Tags(ctx, "cache/library/kept", "", 0); err != nil || len(tags) != 1 {
		t.Fatalf("tags after an outage: %v, %v", tags, err)
	}
	e.up.down.Store(false)
	// The tag comes back upstream: it is cached again.
	e.up.push(t, "library/gone:1", gone)
	if d, err := e.pull("cache/library/gone:1"); err != nil || d != digestOf(t, gone) {
		t.Fatalf("pull after the tag came back: %s, %v", d, err)
	}
}

// upRef is a reference on the upstream.
func upRef(t *testing.T, e *env, r string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(e.up.host + "/" + r)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// A client whose Accept header does not take manifest lists gets the
// upstream's answer to its own header (stored by digest, with its media
// type, its blobs fetchable), while the tag keeps pointing at the list.
func TestAcceptForwarded(t *testing.T) {
	e := newEnv(t, "")
	ctx := t.Context()
	amd, arm := randomImage(t, 1024, 1), randomImage(t, 1024, 1)
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	), types.DockerManifestList)
	ref, err := name.ParseReference(e.up.host + "/library/multi:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	manifestURL := e.srv.URL + "/v2/cache/library/multi/manifests/1"
	getManifest := func(accept string) (string, string, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, manifestURL, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET manifest with Accept %q: %d %s", accept, resp.StatusCode, b)
		}
		return resp.Header.Get("Content-Type"), resp.Header.Get("Docker-Content-Digest"), b
	}
	// A client accepting everything: the list, cached under the tag.
	if ct, d, _ := getManifest(""); ct != string(types.DockerManifestList) || d != idxDigest.String() {
		t.Fatalf("full Accept: %s %s", ct, d)
	}
	// A client that only takes single manifests.
	narrow := string(types.DockerManifestSchema2)
	before := len(e.up.manifestAccepts())
	ct, d, body := getManifest(narrow)
	amdDigest := digestOf(t, amd)
	if ct != narrow || d != amdDigest.String() || digest.FromBytes(body).String() != d {
		t.Fatalf("narrow Accept: %s %s, want %s %s", ct, d, narrow, amdDigest)
	}
	accepts := e.up.manifestAccepts()[before:]
	if len(accepts) != 1 || accepts[0] != narrow {
		t.Fatalf("Accept headers sent upstream: %q, want [%q]", accepts, narrow)
	}
	stored, err := e.db.Manifest(ctx, "cache/library/multi", oci.Reference{Digest: digest.Digest(d)})
	if err != nil || stored.MediaType != narrow {
		t.Fatalf("stored manifest: %+v, %v", stored.MediaType, err)
	}
	// Its blobs are fetchable, the tag still names the list.
	m, _ := amd.Manifest()
	resp, err := http.Get(e.srv.URL + "/v2/cache/library/multi/blobs/" + m.Layers[0].Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || digest.FromBytes(b) != digest.Digest(m.Layers[0].Digest.String()) {
		t.Fatalf("layer of the narrow answer: %d, %d bytes", resp.StatusCode, len(b))
	}
	if ct, d, _ := getManifest(string(types.DockerManifestList) + ", " + narrow); ct != string(types.DockerManifestList) || d != idxDigest.String() {
		t.Fatalf("the tag after a narrow pull: %s %s", ct, d)
	}
	// The upstream down: the narrow client gets what the cache has.
	e.up.down.Store(true)
	if ct, _, _ := getManifest(narrow); ct != string(types.DockerManifestList) {
		t.Fatalf("narrow Accept with the upstream down: %s", ct)
	}
}

// A pull arriving while a blob is downloaded streams the bytes as they
// arrive: both clients get the first half while the upstream still holds
// the second, and the upstream serves the blob once.
func TestFollowersStream(t *testing.T) {
	e := newEnv(t, "")
	img := randomImage(t, 256<<10, 1)
	e.up.push(t, "library/s:1", img)
	if _, err := remote.Get(e.ref("cache/library/s:1"), remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	layer, size := m.Layers[0].Digest.String(), m.Layers[0].Size
	rc, err := mustLayer(t, img).Compressed()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(rc)
	rc.Close()
	release := e.up.holdBlob(t, layer)
	// Bounds the test should streaming be broken (a follower would wait
	// for the held download); no duration is asserted.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	open := func() *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/v2/cache/library/s/blobs/"+layer, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != http.StatusOK || resp.ContentLength != size {
			t.Fatalf("GET: %d, length %d", resp.StatusCode, resp.ContentLength)
		}
		return resp
	}
	early := size/2 - 16<<10 // what surely left the server's buffers
	leader := open()
	first := make([]byte, early)
	if _, err := io.ReadFull(leader.Body, first); err != nil {
		t.Fatalf("leader's first half: %v", err)
	}
	follower := open()
	second := make([]byte, early)
	if _, err := io.ReadFull(follower.Body, second); err != nil {
		t.Fatalf("follower's first half while the upstream holds the rest: %v", err)
	}
	release()
	for i, part := range []struct {
		resp *http.Response
		head []byte
	}{{leader, first}, {follower, second}} {
		rest, err := io.ReadAll(part.resp.Body)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if got := append(part.head, rest...); !bytes.Equal(got, want) {
			t.Fatalf("client %d got %d bytes, not the blob", i, len(got))
		}
	}
	if n := e.up.count("GET", "/v2/library/s/blobs/"+layer); n != 1 {
		t.Fatalf("upstream served the blob %d times, want 1", n)
	}
}
