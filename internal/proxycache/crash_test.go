package proxycache_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/proxycache"
	"github.com/wharfhq/wharf/internal/store"
)

var errCrashed = errors.New("the process crashed")

// crashingMeta is the metadata store of a process that dies right after
// it stored its first proxied manifest: every later call fails, as if the
// process was gone.
type crashingMeta struct {
	proxycache.Metadata
	dead atomic.Bool
}

func (c *crashingMeta) alive() error {
	if c.dead.Load() {
		return errCrashed
	}
	return nil
}

func (c *crashingMeta) PutProxiedManifest(ctx context.Context, m store.PutManifest, p []store.PendingBlob) error {
	if err := c.alive(); err != nil {
		return err
	}
	err := c.Metadata.PutProxiedManifest(ctx, m, p)
	if err == nil {
		c.dead.Store(true)
	}
	return err
}

func (c *crashingMeta) ProxyCacheConfig(ctx context.Context, ns string) (store.ProxyCacheConfig, error) {
	if err := c.alive(); err != nil {
		return store.ProxyCacheConfig{}, err
	}
	return c.Metadata.ProxyCacheConfig(ctx, ns)
}

func (c *crashingMeta) Manifest(ctx context.Context, repo string, ref oci.Reference) (core.Manifest, error) {
	if err := c.alive(); err != nil {
		return core.Manifest{}, err
	}
	return c.Metadata.Manifest(ctx, repo, ref)
}

func (c *crashingMeta) EndProxyTag(ctx context.Context, repo, tag string, d digest.Digest) (bool, error) {
	if err := c.alive(); err != nil {
		return false, err
	}
	return c.Metadata.EndProxyTag(ctx, repo, tag, d)
}

func (c *crashingMeta) ProxyPendingBlob(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	if err := c.alive(); err != nil {
		return 0, err
	}
	return c.Metadata.ProxyPendingBlob(ctx, repo, d)
}

func (c *crashingMeta) CommitProxiedBlob(ctx context.Context, repo string, d digest.Digest, size int64) error {
	if err := c.alive(); err != nil {
		return err
	}
	return c.Metadata.CommitProxiedBlob(ctx, repo, d, size)
}

func (c *crashingMeta) ProxyTagState(ctx context.Context, repo, tag string) (store.ProxyTag, error) {
	if err := c.alive(); err != nil {
		return store.ProxyTag{}, err
	}
	return c.Metadata.ProxyTagState(ctx, repo, tag)
}

func (c *crashingMeta) TouchProxyTag(ctx context.Context, repo, tag string, checked bool) error {
	if err := c.alive(); err != nil {
		return err
	}
	return c.Metadata.TouchProxyTag(ctx, repo, tag, checked)
}

func (c *crashingMeta) CheckBlobQuota(ctx context.Context, repo string, d digest.Digest, size int64) error {
	if err := c.alive(); err != nil {
		return err
	}
	return c.Metadata.CheckBlobQuota(ctx, repo, d, size)
}

func (c *crashingMeta) EvictProxyTag(ctx context.Context, ns string, keep digest.Digest) (string, string, bool, error) {
	if err := c.alive(); err != nil {
		return "", "", false, err
	}
	return c.Metadata.EvictProxyTag(ctx, ns, keep)
}

func (c *crashingMeta) AcquireProxyFetch(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := c.alive(); err != nil {
		return false, err
	}
	return c.Metadata.AcquireProxyFetch(ctx, key, ttl)
}

func (c *crashingMeta) RenewProxyFetch(ctx context.Context, key string, ttl time.Duration) error {
	if err := c.alive(); err != nil {
		return err
	}
	return c.Metadata.RenewProxyFetch(ctx, key, ttl)
}

func (c *crashingMeta) ReleaseProxyFetch(ctx context.Context, key string) error {
	if err := c.alive(); err != nil {
		return err
	}
	return c.Metadata.ReleaseProxyFetch(ctx, key)
}

func (c *crashingMeta) RepositoryBlob(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	if err := c.alive(); err != nil {
		return 0, err
	}
	return c.Metadata.RepositoryBlob(ctx, repo, d)
}

// A process that dies right after storing a proxied manifest leaves a
// cache from which a restarted process serves every blob of the image.
func TestCrashAfterManifestStored(t *testing.T) {
	testCrashAfterManifestStored(t, "")
}

func testCrashAfterManifestStored(t *testing.T, dsn string) {
	e := newEnv(t, dsn)
	img := randomImage(t, 4096, 3)
	e.up.push(t, "library/crash:1", img)
	meta := &crashingMeta{Metadata: e.db}
	crashed := e.server(meta, e.blobs)
	if _, err := e.pullOnce(hostOf(crashed.URL), "cache/library/crash:1"); err == nil {
		t.Fatal("the pull through the crashing process succeeded")
	}
	if !meta.dead.Load() {
		t.Fatal("the manifest was never stored")
	}
	crashed.Close()
	// The restarted process (a fresh cache on the same database and
	// blobs): the manifest is cached, every blob can be fetched.
	if d, err := e.pullFrom(hostOf(e.server(e.db, e.blobs).URL), "cache/library/crash:1"); err != nil || d != digestOf(t, img) {
		t.Fatalf("pull after the restart: %s, %v", d, err)
	}
	for _, d := range blobDigests(t, img) {
		if _, err := e.db.RepositoryBlob(t.Context(), "cache/library/crash", digest.Digest(d)); err != nil {
			t.Errorf("blob %s not linked after the restart: %v", d, err)
		}
	}
}

// crashingBlobs is the blob store of a process that dies right after it
// committed its first blob, before the database recorded it.
type crashingBlobs struct {
	blob.Store
	dead      atomic.Bool
	committed atomic.Value // digest.Digest
}

func (c *crashingBlobs) Commit(ctx context.Context, id string, d digest.Digest) (blob.Info, error) {
	if c.dead.Load() {
		return blob.Info{}, errCrashed
	}
	info, err := c.Store.Commit(ctx, id, d)
	if err == nil {
		c.committed.Store(d)
		c.dead.Store(true)
		return info, errCrashed
	}
	return info, err
}

func (c *crashingBlobs) CancelUpload(ctx context.Context, id string) error {
	if c.dead.Load() {
		return errCrashed
	}
	return c.Store.CancelUpload(ctx, id)
}

// A process that dies between committing a fetched blob's bytes and
// recording them leaves a cache from which a restarted process serves the
// blob, without fetching it again.
func TestCrashAfterBlobCommitted(t *testing.T) {
	e := newEnv(t, "")
	img := randomImage(t, 4096, 1)
	e.up.push(t, "library/half:1", img)
	blobs := &crashingBlobs{Store: e.blobs}
	crashed := e.server(e.db, blobs)
	if _, err := e.pullOnce(hostOf(crashed.URL), "cache/library/half:1"); err == nil {
		t.Fatal("the pull through the crashing process succeeded")
	}
	if !blobs.dead.Load() {
		t.Fatal("no blob was committed")
	}
	crashed.Close()
	if d, err := e.pullFrom(hostOf(e.server(e.db, e.blobs).URL), "cache/library/half:1"); err != nil || d != digestOf(t, img) {
		t.Fatalf("pull after the restart: %s, %v", d, err)
	}
	committed := blobs.committed.Load().(digest.Digest)
	if n := e.up.count("GET", "/v2/library/half/blobs/"+string(committed)); n != 1 {
		t.Fatalf("upstream served the committed blob %d times, want 1 (it is stored already)", n)
	}
	for _, d := range blobDigests(t, img) {
		if _, err := e.db.RepositoryBlob(t.Context(), "cache/library/half", digest.Digest(d)); err != nil {
			t.Errorf("blob %s not linked after the restart: %v", d, err)
		}
	}
}

// pullOnce pulls through the registry at host without retrying.
func (e *env) pullOnce(host, r string) (v1.Hash, error) {
	ref, err := name.ParseReference(host + "/" + r)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := remote.Image(ref, remote.WithContext(e.t.Context()), remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
	if err != nil {
		return v1.Hash{}, err
	}
	return fetchAll(img)
}

func hostOf(url string) string {
	const p = "http://"
	return url[len(p):]
}
