package mirror

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/store"
)

// blobCounter counts the GETs of each blob that pass through it.
type blobCounter struct {
	mu   sync.Mutex
	gets map[string]int // digest → GETs
}

func (c *blobCounter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			if _, d, ok := strings.Cut(r.URL.Path, "/blobs/"); ok {
				c.mu.Lock()
				c.gets[d]++
				c.mu.Unlock()
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (c *blobCounter) count(d digest.Digest) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets[string(d)]
}

// countingServer serves next on a loopback port behind a blobCounter and
// returns its host:port.
func countingServer(t *testing.T, next http.Handler) (string, *blobCounter) {
	t.Helper()
	c := &blobCounter{gets: map[string]int{}}
	srv := httptest.NewServer(c.wrap(next))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), c
}

// pushSharing pushes one image per tag, each with the layer shared and a
// layer of its own, to repo (through opts) and returns the images' layers.
func pushSharing(t *testing.T, repo string, tags []string, shared v1.Layer, opts ...remote.Option) map[string][]digest.Digest {
	t.Helper()
	out := map[string][]digest.Digest{}
	for _, tag := range tags {
		own, err := random.Layer(2048, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), shared, own)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(repo+":"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, opts...); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
		for _, l := range []v1.Layer{shared, own} {
			d, err := l.Digest()
			if err != nil {
				t.Fatal(err)
			}
			out[tag] = append(out[tag], digest.Digest(d.String()))
		}
	}
	return out
}

// checkOneDownload syncs tags that share a layer and checks that every
// blob, the shared one included, was downloaded exactly once, and that
// every tag was copied whole.
func checkOneDownload(t *testing.T, e *env, c *blobCounter, shared digest.Digest, layers map[string][]digest.Digest) {
	t.Helper()
	rep := e.mustSync(t)
	if len(rep.Synced) != len(layers) {
		t.Fatalf("synced %v, want %d tags", rep.Synced, len(layers))
	}
	if n := c.count(shared); n != 1 {
		t.Fatalf("the shared layer was downloaded %d times, want once", n)
	}
	for tag, ds := range layers {
		for _, d := range ds {
			if n := c.count(d); n != 1 {
				t.Errorf("layer %s of %s downloaded %d times, want once", d, tag, n)
			}
			if _, err := e.db.RepositoryBlob(t.Context(), e.repo, d); err != nil {
				t.Errorf("layer %s of %s is not in the repository: %v", d, tag, err)
			}
		}
	}
	// Every blob stored is counted once in the report: configs and the
	// distinct layers.
	if want := 2*len(layers) + 1; rep.BlobsCopied != want {
		t.Errorf("report: %d blobs copied, want %d", rep.BlobsCopied, want)
	}
	tags := e.tags(t)
	if len(tags) != len(layers) {
		t.Fatalf("tags after the sync: %v", tags)
	}
}

// sharedLayer is a layer of 256 KiB several images share.
func sharedLayer(t *testing.T) (v1.Layer, digest.Digest) {
	t.Helper()
	l, err := random.Layer(256<<10, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return l, digest.Digest(d.String())
}

var sharingTags = []string{"a", "b", "c", "d", "e", "f"}

// Tags copied at once download a layer they share only once (go-
// containerregistry's registry upstream).
func TestSyncDownloadsSharedBlobOnce(t *testing.T) {
	e := newEnv(t)
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	host, c := countingServer(t, reg)
	shared, sd := sharedLayer(t)
	base := host + "/library/shared"
	layers := pushSharing(t, base, sharingTags, shared)
	e.configure(t, base, []string{"*"}, nil)
	checkOneDownload(t, e, c, sd, layers)
}

// The same through the CNCF distribution registry with basic auth, counted
// by a reverse proxy in front of it.
func TestSyncDownloadsSharedBlobOnceDistribution(t *testing.T) {
	e := newEnv(t)
	addr := startDistribution(t, "mirror", "s3cret-pass")
	target, err := url.Parse("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	host, c := countingServer(t, proxy)
	shared, sd := sharedLayer(t)
	layers := pushSharing(t, addr+"/library/shared", sharingTags, shared, basicAuth("mirror", "s3cret-pass"))
	user, pass := e.seal(t, "mirror"), e.seal(t, "s3cret-pass")
	e.configure(t, host+"/library/shared", []string{"*"}, func(c *store.MirrorConfig) { c.UsernameEnc, c.PasswordEnc = user, pass })
	checkOneDownload(t, e, c, sd, layers)
}
