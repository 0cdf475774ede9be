package storetest

import (
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// proxyCacheTests cover proxy cache configurations and the bookkeeping of
// proxied repositories (pending blobs, pull times, eviction).
var proxyCacheTests = []struct {
	name string
	fn   func(t *testing.T, db *store.DB)
}{
	{"ProxyCacheConfigCRUD", testProxyCacheCRUD},
	{"ProxyCachePendingBlobsUsage", testProxyPendingUsage},
	{"ProxyCacheEvictLeastRecentlyPulled", testProxyEvict},
	{"ProxyCacheFetchLease", testProxyFetchLease},
	{"ProxyCacheEndTag", testProxyEndTag},
}

func proxyOrg(t *testing.T, db *store.DB, name string) {
	t.Helper()
	u, err := db.CreateUser(t.Context(), store.NewUser{Username: name + "-owner", Email: name + "@example.com"})
	noErr(t, err, "CreateUser")
	_, err = db.CreateOrganization(t.Context(), name, "", u.ID)
	noErr(t, err, "CreateOrganization")
	noErr(t, db.CreateProxyCacheConfig(t.Context(), store.ProxyCacheConfig{Namespace: name, UpstreamRegistry: "docker.io/library",
		ExpirationS: 86400}), "CreateProxyCacheConfig")
}

func testProxyCacheCRUD(t *testing.T, db *store.DB) {
	ctx := t.Context()
	wantCode(t, db.CreateProxyCacheConfig(ctx, store.ProxyCacheConfig{Namespace: "nobody", UpstreamRegistry: "quay.io"}), core.CodeNotFound)
	u, err := db.CreateUser(ctx, store.NewUser{Username: "alice", Email: "alice@example.com"})
	noErr(t, err, "CreateUser")
	// A user namespace is no organization.
	wantCode(t, db.CreateProxyCacheConfig(ctx, store.ProxyCacheConfig{Namespace: "alice", UpstreamRegistry: "quay.io"}), core.CodeNotFound)
	_, err = db.CreateOrganization(ctx, "cache", "", u.ID)
	noErr(t, err, "CreateOrganization")
	_, err = db.ProxyCacheConfig(ctx, "cache")
	wantCode(t, err, core.CodeNotFound)
	if ok, err := db.IsProxyCacheNamespace(ctx, "cache"); err != nil || ok {
		t.Fatalf("IsProxyCacheNamespace before = %v, %v", ok, err)
	}
	c := store.ProxyCacheConfig{Namespace: "cache", UpstreamRegistry: "quay.io/ns", ExpirationS: 60, Insecure: true,
		Username: "u", PasswordSealed: "v1:sealed"}
	noErr(t, db.CreateProxyCacheConfig(ctx, c), "CreateProxyCacheConfig")
	wantCode(t, db.CreateProxyCacheConfig(ctx, c), core.CodeConflict)
	got, err := db.ProxyCacheConfig(ctx, "cache")
	noErr(t, err, "ProxyCacheConfig")
	got.CreatedAt = c.CreatedAt
	if got != c {
		t.Fatalf("ProxyCacheConfig = %+v, want %+v", got, c)
	}
	if ok, err := db.IsProxyCacheNamespace(ctx, "cache"); err != nil || !ok {
		t.Fatalf("IsProxyCacheNamespace = %v, %v", ok, err)
	}
	noErr(t, db.DeleteProxyCacheConfig(ctx, "cache"), "DeleteProxyCacheConfig")
	wantCode(t, db.DeleteProxyCacheConfig(ctx, "cache"), core.CodeNotFound)
	wantCode(t, db.DeleteProxyCacheConfig(ctx, "nobody"), core.CodeNotFound)
	// Without credentials.
	noErr(t, db.CreateProxyCacheConfig(ctx, store.ProxyCacheConfig{Namespace: "cache", UpstreamRegistry: "docker.io", ExpirationS: 60}), "again")
	if got, err := db.ProxyCacheConfig(ctx, "cache"); err != nil || got.Username != "" || got.PasswordSealed != "" {
		t.Fatalf("ProxyCacheConfig without credentials = %+v, %v", got, err)
	}
}

// proxiedImage stores a manifest whose blobs were not fetched, as the cache
// does, and returns it with its blob digests.
func proxiedImage(t *testing.T, db *store.DB, repo, seed, tag string, sizes ...int64) (store.PutManifest, []digest.Digest) {
	t.Helper()
	var pending []store.PendingBlob
	for i, size := range sizes {
		pending = append(pending, store.PendingBlob{Digest: digest.FromString(seed + string(rune('a'+i))), Size: size})
	}
	return proxiedImageOf(t, db, repo, seed, tag, pending...)
}

// proxiedImageOf is proxiedImage with the given blobs.
func proxiedImageOf(t *testing.T, db *store.DB, repo, seed, tag string, pending ...store.PendingBlob) (store.PutManifest, []digest.Digest) {
	t.Helper()
	var blobs []digest.Digest
	for _, p := range pending {
		blobs = append(blobs, p.Digest)
	}
	m := image{repo: repo, seed: seed, tags: []string{tag}}.buildWith(t, blobs...)
	m.Create = &store.NewRepository{FullName: repo, Visibility: core.VisibilityPrivate}
	noErr(t, db.PutProxiedManifest(t.Context(), m, pending), "PutProxiedManifest")
	return m, blobs
}

func testProxyPendingUsage(t *testing.T, db *store.DB) {
	ctx := t.Context()
	proxyOrg(t, db, "cache")
	_, blobs := proxiedImage(t, db, "cache/library/app", "one", "1", 100, 1000)
	wantUsage(t, db, "cache", 0)
	for i, want := range []int64{100, 1000} {
		size, err := db.ProxyPendingBlob(ctx, "cache/library/app", blobs[i])
		if err != nil || size != want {
			t.Fatalf("ProxyPendingBlob %d = %d, %v; want %d", i, size, err, want)
		}
	}
	_, err := db.ProxyPendingBlob(ctx, "cache/library/other", blobs[0])
	wantCode(t, err, core.CodeBlobUnknown)
	_, err = db.ProxyPendingBlob(ctx, "cache/library/app", digest.FromString("unrelated"))
	wantCode(t, err, core.CodeBlobUnknown)

	noErr(t, db.CommitProxiedBlob(ctx, "cache/library/app", blobs[0], 100), "CommitProxiedBlob")
	wantBlob(t, db, "cache/library/app", blobs[0], 100)
	wantUsage(t, db, "cache", 100)
	noErr(t, db.CommitProxiedBlob(ctx, "cache/library/app", blobs[0], 100), "CommitProxiedBlob again")
	wantUsage(t, db, "cache", 100)
	noErr(t, db.CommitProxiedBlob(ctx, "cache/library/app", blobs[1], 1000), "CommitProxiedBlob")
	wantUsage(t, db, "cache", 1100)
	// A second manifest sharing a fetched blob counts it once.
	m2, _ := proxiedImageOf(t, db, "cache/library/app", "two", "2",
		store.PendingBlob{Digest: digest.FromString("two-a"), Size: 50}, store.PendingBlob{Digest: blobs[1], Size: 1000})
	if st, err := db.ProxyTagState(ctx, "cache/library/app", "2"); err != nil || st.CheckedAt.IsZero() {
		t.Fatalf("ProxyTagState of a stored tag = %+v, %v", st, err)
	}
	noErr(t, db.CommitProxiedBlob(ctx, "cache/library/app", blobs[1], 1000), "CommitProxiedBlob shared")
	wantUsage(t, db, "cache", 1100)
	// A referenced blob stays known to the cache after it was fetched.
	if size, err := db.ProxyPendingBlob(ctx, "cache/library/app", blobs[1]); err != nil || size != 1000 {
		t.Fatalf("ProxyPendingBlob of a fetched blob = %d, %v", size, err)
	}
	// Storing the manifest again adds nothing already referenced.
	noErr(t, db.PutProxiedManifest(ctx, m2, []store.PendingBlob{{Digest: blobs[1], Size: 1000}}), "again")
	wantUsage(t, db, "cache", 1100)
	// A refused manifest leaves no pending blob behind (one transaction).
	proxiedImage(t, db, "cache/library/app", "locked", "locked", 5)
	_, err = db.CreateImmutabilityPolicy(ctx, core.ImmutabilityPolicy{Namespace: "cache", TagPattern: "^locked$", TagPatternMatches: true})
	noErr(t, err, "CreateImmutabilityPolicy")
	refused := image{repo: "cache/library/app", seed: "three", tags: []string{"locked"}}.buildWith(t, digest.FromString("three-a"))
	wantCode(t, db.PutProxiedManifest(ctx, refused, []store.PendingBlob{{Digest: digest.FromString("three-a"), Size: 7}}), core.CodeTagImmutable)
	_, err = db.ProxyPendingBlob(ctx, "cache/library/app", digest.FromString("three-a"))
	wantCode(t, err, core.CodeBlobUnknown)
}

func testProxyEndTag(t *testing.T, db *store.DB) {
	ctx := t.Context()
	proxyOrg(t, db, "cache")
	m, blobs := proxiedImage(t, db, "cache/library/gone", "gone", "1", 100)
	noErr(t, db.CommitProxiedBlob(ctx, "cache/library/gone", blobs[0], 100), "CommitProxiedBlob")
	wantUsage(t, db, "cache", 100)
	// Another digest: the tag moved meanwhile, nothing changes.
	if ok, err := db.EndProxyTag(ctx, "cache/library/gone", "1", digest.FromString("other")); err != nil || ok {
		t.Fatalf("EndProxyTag of another digest = %v, %v", ok, err)
	}
	wantTags(t, db, "cache/library/gone", "1")
	if ok, err := db.EndProxyTag(ctx, "cache/library/gone", "1", m.Digest); err != nil || !ok {
		t.Fatalf("EndProxyTag = %v, %v", ok, err)
	}
	wantTags(t, db, "cache/library/gone")
	wantUsage(t, db, "cache", 0)
	_, err := db.ProxyTagState(ctx, "cache/library/gone", "1")
	wantCode(t, err, core.CodeNotFound)
	if ok, err := db.EndProxyTag(ctx, "cache/library/gone", "1", m.Digest); err != nil || ok {
		t.Fatalf("EndProxyTag again = %v, %v", ok, err)
	}
	_, err = db.EndProxyTag(ctx, "cache/library/nothing", "1", m.Digest)
	wantCode(t, err, core.CodeNameUnknown)
}

func testProxyEvict(t *testing.T, db *store.DB) {
	ctx := t.Context()
	proxyOrg(t, db, "cache")
	var all [][]digest.Digest
	for i, repo := range []string{"cache/library/a", "cache/library/b", "cache/library/c"} {
		_, blobs := proxiedImage(t, db, repo, repo, "1", 10*int64(i+1))
		noErr(t, db.CommitProxiedBlob(ctx, repo, blobs[0], 10*int64(i+1)), "CommitProxiedBlob")
		all = append(all, blobs)
		tick()
	}
	wantUsage(t, db, "cache", 60)
	noErr(t, db.TouchProxyTag(ctx, "cache/library/a", "1", false), "TouchProxyTag") // a: most recent
	if st, err := db.ProxyTagState(ctx, "cache/library/a", "1"); err != nil || !st.PulledAt.After(st.CheckedAt) {
		t.Fatalf("ProxyTagState after a pull = %+v, %v", st, err)
	}
	_, err := db.ProxyTagState(ctx, "cache/library/a", "nope")
	wantCode(t, err, core.CodeNotFound)

	// b is the least recently pulled, but it holds the blob being fetched.
	repo, tag, ok, err := db.EvictProxyTag(ctx, "cache", all[1][0])
	if err != nil || !ok || repo != "cache/library/c" || tag != "1" {
		t.Fatalf("EvictProxyTag keeping b's blob = %s:%s %v %v; want cache/library/c:1", repo, tag, ok, err)
	}
	wantTags(t, db, "cache/library/c")
	wantUsage(t, db, "cache", 30)
	repo, _, ok, err = db.EvictProxyTag(ctx, "cache", "")
	if err != nil || !ok || repo != "cache/library/b" {
		t.Fatalf("EvictProxyTag = %s %v %v; want cache/library/b", repo, ok, err)
	}
	wantUsage(t, db, "cache", 10)
	repo, _, ok, err = db.EvictProxyTag(ctx, "cache", "")
	if err != nil || !ok || repo != "cache/library/a" {
		t.Fatalf("EvictProxyTag = %s %v %v; want cache/library/a", repo, ok, err)
	}
	wantUsage(t, db, "cache", 0)
	if _, _, ok, err := db.EvictProxyTag(ctx, "cache", ""); err != nil || ok {
		t.Fatalf("EvictProxyTag with nothing left = %v, %v", ok, err)
	}
	_, _, _, err = db.EvictProxyTag(ctx, "nobody", "")
	wantCode(t, err, core.CodeNotFound)
}

func testProxyFetchLease(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acquire := func(key string, ttl time.Duration, want bool) {
		t.Helper()
		ok, err := db.AcquireProxyFetch(ctx, key, ttl)
		if err != nil || ok != want {
			t.Fatalf("AcquireProxyFetch(%s) = %v, %v; want %v", key, ok, err, want)
		}
	}
	acquire("b:x", time.Hour, true)
	acquire("b:x", time.Hour, false)
	acquire("b:y", time.Hour, true) // another item
	noErr(t, db.RenewProxyFetch(ctx, "b:x", time.Hour), "RenewProxyFetch")
	acquire("b:x", time.Hour, false)
	noErr(t, db.ReleaseProxyFetch(ctx, "b:x"), "ReleaseProxyFetch")
	acquire("b:x", 0, true) // expires at once
	acquire("b:x", time.Hour, true)
	noErr(t, db.ReleaseProxyFetch(ctx, "nothing"), "ReleaseProxyFetch of nothing")
}
