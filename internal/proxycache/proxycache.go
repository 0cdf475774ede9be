package proxycache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// Metadata is what the cache needs from the metadata store.
type Metadata interface {
	ProxyCacheConfig(ctx context.Context, namespace string) (store.ProxyCacheConfig, error)
	Manifest(ctx context.Context, repo string, ref oci.Reference) (core.Manifest, error)
	PutProxiedManifest(ctx context.Context, m store.PutManifest, pending []store.PendingBlob) error
	EndProxyTag(ctx context.Context, repo, tag string, d digest.Digest) (bool, error)
	ProxyPendingBlob(ctx context.Context, repo string, d digest.Digest) (int64, error)
	CommitProxiedBlob(ctx context.Context, repo string, d digest.Digest, size int64) error
	ProxyTagState(ctx context.Context, repo, tag string) (store.ProxyTag, error)
	TouchProxyTag(ctx context.Context, repo, tag string, checked bool) error
	CheckBlobQuota(ctx context.Context, repo string, d digest.Digest, size int64) error
	EvictProxyTag(ctx context.Context, namespace string, keep digest.Digest) (repo, tag string, ok bool, err error)
	AcquireProxyFetch(ctx context.Context, key string, ttl time.Duration) (bool, error)
	RenewProxyFetch(ctx context.Context, key string, ttl time.Duration) error
	ReleaseProxyFetch(ctx context.Context, key string) error
	RepositoryBlob(ctx context.Context, repo string, d digest.Digest) (int64, error)
}

// Options tune the cache.
type Options struct {
	// ConfigTTL is how long a namespace's proxy configuration (or its
	// absence) is remembered by this process; 0 means 5s.
	ConfigTTL time.Duration
	// FetchTimeout bounds one upstream fetch; 0 means 30 minutes.
	FetchTimeout time.Duration
	// Transport is the base HTTP transport to upstreams; nil means
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// UpstreamAllowlist, when set, is the only upstream hosts that may be
	// configured and fetched from (PROXY_CACHE_UPSTREAM_ALLOWLIST; guard.go).
	UpstreamAllowlist []string
	// BlockInternalUpstreams refuses connections to internal addresses
	// but those of allowlisted hosts (PROXY_CACHE_BLOCK_INTERNAL_UPSTREAMS).
	BlockInternalUpstreams bool
}

// Service is the pull-through cache; it implements registry.Upstream.
type Service struct {
	meta  Metadata
	blobs blob.Store
	box   *auth.Box
	log   *slog.Logger
	opts  Options

	flights flights
	streams streams           // blob downloads pulls may join (fanout.go)
	guarded http.RoundTripper // Transport refusing internal addresses

	mu      sync.Mutex
	configs map[string]cachedConfig
}

type cachedConfig struct {
	ok     bool
	cfg    store.ProxyCacheConfig
	remote *remote
	exp    time.Time
}

// New returns the cache. box opens the sealed upstream passwords.
func New(meta Metadata, blobs blob.Store, box *auth.Box, log *slog.Logger, opts Options) *Service {
	if opts.ConfigTTL <= 0 {
		opts.ConfigTTL = 5 * time.Second
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 30 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{meta: meta, blobs: blobs, box: box, log: log, opts: opts, configs: make(map[string]cachedConfig)}
	if opts.BlockInternalUpstreams {
		s.guarded = guardedTransport(opts.Transport)
	}
	return s
}

// config returns the proxy configuration of a namespace (ok false: none).
func (s *Service) config(ctx context.Context, ns string) (cachedConfig, bool, error) {
	now := s.opts.Now()
	s.mu.Lock()
	c, found := s.configs[ns]
	s.mu.Unlock()
	if found && now.Before(c.exp) {
		return c, c.ok, nil
	}
	cfg, err := s.meta.ProxyCacheConfig(ctx, ns)
	c = cachedConfig{exp: now.Add(s.opts.ConfigTTL)}
	switch {
	case err == nil:
		r, err := s.remoteFor(cfg)
		if err != nil {
			return c, false, err
		}
		c.ok, c.cfg, c.remote = true, cfg, r
	case core.IsCode(err, core.CodeNotFound):
	default:
		return c, false, err
	}
	s.mu.Lock()
	// An unchanged configuration keeps its authenticated clients; a
	// configuration created again gets fresh ones (new credentials).
	if old, ok := s.configs[ns]; ok && old.ok && c.ok && old.cfg == c.cfg {
		c.remote = old.remote
	}
	if len(s.configs) > 10000 {
		s.configs = make(map[string]cachedConfig)
	}
	s.configs[ns] = c
	s.mu.Unlock()
	return c, c.ok, nil
}

func (s *Service) remoteFor(cfg store.ProxyCacheConfig) (*remote, error) {
	up, err := ParseUpstream(cfg.UpstreamRegistry)
	if err != nil {
		return nil, err
	}
	if err := s.checkAllowed(up); err != nil {
		return nil, core.Wrap(core.CodeUnavailable, err, "the upstream registry is not allowed")
	}
	pass := ""
	if cfg.PasswordSealed != "" {
		if pass, err = s.box.Open(cfg.PasswordSealed); err != nil {
			return nil, core.Wrap(core.CodeUnavailable, err, "cannot open the upstream password")
		}
	}
	return newRemote(up, cfg.Insecure, cfg.Username, pass, s.transportFor(up)), nil
}

// Validate checks that an upstream answers with the given settings
// (validateproxycache): the registry's /v2/ with the credentials, if any.
func (s *Service) Validate(ctx context.Context, upstream string, insecure bool, username, password string) error {
	up, err := ParseUpstream(upstream)
	if err != nil {
		return err
	}
	if err := s.checkAllowed(up); err != nil {
		return err
	}
	r := newRemote(up, insecure, username, password, s.transportFor(up))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = r.ping(ctx, up.Repository("proxycache-validation"))
	if errors.Is(err, errUpstreamAuth) {
		return core.Wrap(core.CodeUnauthorized, err, "the upstream registry refused the credentials")
	}
	return err
}

// CheckUpstream validates an upstream_registry: its format, and the
// allowlist when one is configured.
func (s *Service) CheckUpstream(upstream string) error {
	up, err := ParseUpstream(upstream)
	if err != nil {
		return err
	}
	return s.checkAllowed(up)
}

// fetchContext detaches an upstream fetch from the request that started it:
// the callers waiting on the same flight need it to finish.
func (s *Service) fetchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.opts.FetchTimeout)
}

func isMissing(err error) bool {
	return core.IsCode(err, core.CodeManifestUnknown) || core.IsCode(err, core.CodeNameUnknown) || core.IsCode(err, core.CodeTagExpired)
}

// Manifest implements registry.Upstream. accept is the client's Accept
// header: a tag is cached as a client accepting every manifest kind sees
// it, and a client that does not accept the kind the tag points at (an
// index, for a client that cannot handle indexes) gets the upstream's
// answer to its own Accept header.
func (s *Service) Manifest(ctx context.Context, repo string, ref oci.Reference, accept string) (core.Manifest, bool, error) {
	ns, path := oci.SplitName(repo)
	pc, ok, err := s.config(ctx, ns)
	if err != nil || !ok {
		return core.Manifest{}, ok, err
	}
	m, err := s.manifest(ctx, pc, repo, path, ref)
	if err != nil || ref.IsDigest() || ParseAccept(accept).Accepts(m.MediaType) {
		return m, true, err
	}
	return s.manifestFor(ctx, pc, repo, path, ref.Tag, accept, m), true, nil
}

// maxForwardedAccept bounds the Accept header forwarded upstream.
const maxForwardedAccept = 1024

// manifestFor fetches tag upstream with a client's own Accept header and
// stores the answer by digest (the tag keeps pointing at what a client
// accepting every kind gets). When that fails, the tag's manifest m is
// served as it is.
func (s *Service) manifestFor(ctx context.Context, pc cachedConfig, repo, path, tag, accept string, m core.Manifest) core.Manifest {
	if len(accept) > maxForwardedAccept || pc.remote.isDown(s.opts.Now()) {
		return m
	}
	key := "a:" + repo + ":" + tag + "|" + accept
	v, _, err := s.flights.do(ctx, key, func() (any, error) {
		fctx, cancel := s.fetchContext(ctx)
		defer cancel()
		f, err := pc.remote.getManifest(fctx, pc.remote.up.Repository(path), oci.Reference{Tag: tag}, accept)
		if err != nil {
			return nil, err
		}
		if f.digest == m.Digest {
			return m, nil
		}
		return s.storeManifest(fctx, repo, f, "")
	})
	if err != nil {
		s.log.WarnContext(ctx, "proxy cache: fetching a manifest for the client's Accept header, serving the tag's",
			"repository", repo, "tag", tag, "err", err)
		return m
	}
	return v.(core.Manifest)
}

// manifest returns a manifest of a proxy-cache repository by digest or
// tag, fetching or revalidating it upstream.
func (s *Service) manifest(ctx context.Context, pc cachedConfig, repo, path string, ref oci.Reference) (core.Manifest, error) {
	local, err := s.meta.Manifest(ctx, repo, ref)
	found := err == nil
	if err != nil && !isMissing(err) {
		return core.Manifest{}, err
	}
	if ref.IsDigest() {
		if found {
			return local, nil
		}
		key := "m:" + repo + "@" + string(ref.Digest)
		v, _, err := s.flights.do(ctx, key, func() (any, error) {
			fctx, cancel := s.fetchContext(ctx)
			defer cancel()
			var m core.Manifest
			release, already, err := s.lease(fctx, key, func(ctx context.Context) bool {
				var err error
				m, err = s.meta.Manifest(ctx, repo, ref)
				return err == nil
			})
			if err != nil || already {
				return m, err
			}
			defer release()
			return s.fetchManifest(fctx, pc, repo, path, ref, "")
		})
		if err != nil {
			return core.Manifest{}, err
		}
		return v.(core.Manifest), nil
	}
	if found {
		st, err := s.meta.ProxyTagState(ctx, repo, ref.Tag)
		if err != nil && !core.IsCode(err, core.CodeNotFound) {
			return core.Manifest{}, err
		}
		now := s.opts.Now()
		if err == nil && now.Sub(st.CheckedAt) < time.Duration(pc.cfg.ExpirationS)*time.Second {
			// A burst of pulls records one pull time.
			if now.Sub(st.PulledAt) >= pullRecordInterval {
				s.touch(ctx, repo, ref.Tag, false)
			}
			return local, nil
		}
	}
	var stale *core.Manifest
	if found {
		stale = &local
	}
	key := "t:" + repo + ":" + ref.Tag
	v, _, err := s.flights.do(ctx, key, func() (any, error) {
		fctx, cancel := s.fetchContext(ctx)
		defer cancel()
		var m core.Manifest
		release, already, err := s.lease(fctx, key, func(ctx context.Context) bool {
			// Another replica fetched or revalidated the tag.
			st, err := s.meta.ProxyTagState(ctx, repo, ref.Tag)
			if err != nil || s.opts.Now().Sub(st.CheckedAt) >= time.Duration(pc.cfg.ExpirationS)*time.Second {
				return false
			}
			m, err = s.meta.Manifest(ctx, repo, ref)
			return err == nil
		})
		if err != nil || already {
			return m, err
		}
		defer release()
		return s.refreshTag(fctx, pc, repo, path, ref.Tag, stale)
	})
	if err != nil {
		return core.Manifest{}, err
	}
	return v.(core.Manifest), nil
}

// refreshTag fetches a tag that is not cached, or revalidates a cached one
// whose check expired: the cached copy is kept while the upstream has the
// same digest, replaced when the tag moved, and served (stale) when the
// upstream cannot be reached or no longer has the tag.
func (s *Service) refreshTag(ctx context.Context, pc cachedConfig, repo, path, tag string, stale *core.Manifest) (core.Manifest, error) {
	upRepo := pc.remote.up.Repository(path)
	if stale == nil {
		return s.fetchManifest(ctx, pc, repo, path, oci.Reference{Tag: tag}, tag)
	}
	if pc.remote.isDown(s.opts.Now()) {
		s.touch(ctx, repo, tag, false)
		return *stale, nil
	}
	hctx, cancel := context.WithTimeout(ctx, revalidateTimeout)
	d, err := pc.remote.headManifest(hctx, upRepo, tag)
	cancel()
	if err != nil && core.IsCode(err, core.CodeUnavailable) {
		pc.remote.markDown(s.opts.Now())
	}
	if core.IsCode(err, core.CodeManifestUnknown) {
		// The upstream answered that the tag is gone (not an outage):
		// the cached tag goes too, as in Quay.
		if _, eerr := s.meta.EndProxyTag(ctx, repo, tag, stale.Digest); eerr != nil {
			return core.Manifest{}, eerr
		}
		s.log.InfoContext(ctx, "proxy cache: tag removed upstream, removed from the cache", "repository", repo, "tag", tag)
		return core.Manifest{}, core.Errorf(core.CodeManifestUnknown, "manifest %q not found upstream", tag)
	}
	if err == nil && d == stale.Digest {
		s.touch(ctx, repo, tag, true)
		return *stale, nil
	}
	if err == nil {
		ref := oci.Reference{Tag: tag}
		if d != "" {
			ref = oci.Reference{Digest: d}
		}
		m, ferr := s.fetchManifest(ctx, pc, repo, path, ref, tag)
		if ferr == nil {
			return m, nil
		}
		err = ferr
	}
	s.log.WarnContext(ctx, "proxy cache: upstream unavailable, serving the cached manifest",
		"repository", repo, "tag", tag, "digest", stale.Digest, "err", err)
	s.touch(ctx, repo, tag, false)
	return *stale, nil
}

func (s *Service) touch(ctx context.Context, repo, tag string, checked bool) {
	if err := s.meta.TouchProxyTag(ctx, repo, tag, checked); err != nil {
		s.log.WarnContext(ctx, "proxy cache: recording a tag pull", "repository", repo, "tag", tag, "err", err)
	}
}

// fetchManifest fetches a manifest upstream (unless the repository holds
// the digest already), stores it (creating the repository), points tag at
// it when tag is set, and records its blobs as pending.
func (s *Service) fetchManifest(ctx context.Context, pc cachedConfig, repo, path string, ref oci.Reference, tag string) (core.Manifest, error) {
	var f fetched
	if ref.IsDigest() {
		if m, err := s.meta.Manifest(ctx, repo, ref); err == nil {
			f = fetched{digest: m.Digest, mediaType: m.MediaType, content: m.Content}
		}
	}
	if f.content == nil {
		var err error
		if f, err = pc.remote.getManifest(ctx, pc.remote.up.Repository(path), ref, manifestAccept); err != nil {
			return core.Manifest{}, err
		}
	}
	return s.storeManifest(ctx, repo, f, tag)
}

// storeManifest stores a fetched manifest (creating the repository),
// points tag at it when tag is set, and records its blobs as pending, in
// one transaction.
func (s *Service) storeManifest(ctx context.Context, repo string, f fetched, tag string) (core.Manifest, error) {
	pm, err := oci.ParseManifest(f.mediaType, f.content)
	if err != nil {
		return core.Manifest{}, err
	}
	put := store.PutManifest{
		Repository: repo, Digest: f.digest, MediaType: pm.MediaType, ArtifactType: pm.EffectiveArtifactType(),
		Annotations: pm.Annotations, Content: f.content,
		// Quay creates the repository of a proxied pull, private.
		Create: &store.NewRepository{FullName: repo, Visibility: core.VisibilityPrivate},
	}
	if tag != "" {
		put.Tags = []string{tag}
	}
	if pm.Config != nil {
		put.ConfigMediaType = pm.Config.MediaType
	}
	if pm.Subject != nil {
		put.Subject = pm.Subject.Digest
	}
	var pending []store.PendingBlob
	for _, b := range pm.RequiredBlobs() {
		put.Blobs = append(put.Blobs, b.Digest)
		pending = append(pending, store.PendingBlob{Digest: b.Digest, Size: b.Size})
	}
	for _, l := range pm.Layers {
		put.LayersSize += l.Size
	}
	for _, c := range pm.Manifests {
		put.Children = append(put.Children, c.Digest)
	}
	ns, _ := oci.SplitName(repo)
	for attempt := 0; ; attempt++ {
		err = s.meta.PutProxiedManifest(ctx, put, pending)
		if err == nil || !core.IsCode(err, core.CodeDenied) || attempt >= maxEvictions {
			break
		}
		// Over quota: make room, then try again.
		if _, _, evicted, eerr := s.evictOne(ctx, ns, ""); eerr != nil || !evicted {
			break
		}
	}
	if err != nil {
		return core.Manifest{}, err
	}
	s.log.InfoContext(ctx, "proxy cache: manifest cached", "repository", repo, "tag", tag, "digest", f.digest)
	return core.Manifest{Digest: f.digest, MediaType: pm.MediaType, Content: f.content, Size: int64(len(f.content))}, nil
}

// pullRecordInterval is the resolution of the pull times that decide
// eviction: pulls of a tag closer together record the first one only.
const pullRecordInterval = time.Second

// maxEvictions bounds the tags evicted for one fetch.
const maxEvictions = 1000

func (s *Service) evictOne(ctx context.Context, ns string, keep digest.Digest) (string, string, bool, error) {
	repo, tag, ok, err := s.meta.EvictProxyTag(ctx, ns, keep)
	if err == nil && ok {
		s.log.InfoContext(ctx, "proxy cache: evicted the least recently pulled tag to fit the quota",
			"namespace", ns, "repository", repo, "tag", tag)
	}
	return repo, tag, ok, err
}

// makeRoom evicts least recently pulled tags until a blob of size bytes
// fits the namespace's quota, or returns the quota error when nothing more
// can be evicted.
func (s *Service) makeRoom(ctx context.Context, ns, repo string, d digest.Digest, size int64) error {
	for i := 0; ; i++ {
		err := s.meta.CheckBlobQuota(ctx, repo, d, size)
		if err == nil || !core.IsCode(err, core.CodeDenied) || i >= maxEvictions {
			return err
		}
		_, _, ok, eerr := s.evictOne(ctx, ns, d)
		if eerr != nil {
			return eerr
		}
		if !ok {
			return err
		}
	}
}

// ServeBlob implements registry.Upstream.
func (s *Service) ServeBlob(w http.ResponseWriter, r *http.Request, repo string, d digest.Digest) (bool, error) {
	ctx := r.Context()
	ns, path := oci.SplitName(repo)
	pc, ok, err := s.config(ctx, ns)
	if err != nil || !ok {
		return false, err
	}
	// Only blobs of cached manifests are fetched, at the size they declare.
	size, err := s.meta.ProxyPendingBlob(ctx, repo, d)
	if err != nil {
		return false, err
	}
	if info, err := s.blobs.Stat(ctx, d); err == nil {
		// Stored already (another repository): link it.
		return false, s.meta.CommitProxiedBlob(ctx, repo, d, info.Size)
	}
	if r.Method == http.MethodHead {
		hd := w.Header()
		hd.Set("Docker-Content-Digest", string(d))
		hd.Set("Content-Type", "application/octet-stream")
		hd.Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
		return true, nil
	}
	key := "b:" + repo + "@" + string(d)
	out := &teeTarget{w: w, fan: newFanout()}
	if r.Header.Get("Range") != "" {
		// A range is served from the stored blob once it is fetched.
		out.w = nil
	} else if fo := s.streams.get(key); fo != nil {
		// A download in progress: stream along.
		if rd := fo.join(); rd != nil {
			served, err := s.follow(ctx, w, rd, d, size)
			if err != nil && core.IsCode(err, core.CodeManifestUnknown) {
				err = core.Errorf(core.CodeBlobUnknown, "blob %s not found upstream", d)
			}
			return served, err
		}
	}
	_, leader, err := s.flights.do(ctx, key, func() (any, error) {
		fctx, cancel := s.fetchContext(ctx)
		defer cancel()
		release, already, err := s.lease(fctx, key, func(ctx context.Context) bool {
			_, err := s.meta.RepositoryBlob(ctx, repo, d)
			return err == nil
		})
		if err != nil || already {
			return nil, err // stored by another replica: served locally
		}
		defer release()
		if err := s.makeRoom(fctx, ns, repo, d, size); err != nil {
			return nil, err
		}
		s.streams.add(key, out.fan)
		ferr := errors.New("proxy cache: blob download aborted")
		defer func() {
			s.streams.remove(key, out.fan)
			out.fan.finish(ferr)
		}()
		ferr = s.fetchBlob(fctx, pc, repo, path, d, size, out)
		return nil, ferr
	})
	if !leader {
		// Another request fetched it: it is stored now, or that failed.
		return false, err
	}
	if err != nil {
		if core.IsCode(err, core.CodeManifestUnknown) {
			err = core.Errorf(core.CodeBlobUnknown, "blob %s not found upstream", d)
		}
		if out.started {
			// The client has a partial body it cannot verify: cut it.
			s.log.ErrorContext(ctx, "proxy cache: blob fetch failed while streaming", "repository", repo, "digest", d, "err", err)
			panic(http.ErrAbortHandler)
		}
		return false, err
	}
	return out.started, nil
}

// teeTarget is the leader's response: bytes go to the client while they
// are stored; a client that goes away does not stop the download (others
// wait for it). Without w (a range request) nothing is streamed.
type teeTarget struct {
	w       http.ResponseWriter
	fan     *fanout // the pulls streaming along
	started bool
	failed  bool
}

func (t *teeTarget) Write(p []byte) (int, error) {
	if t.fan != nil {
		_, _ = t.fan.Write(p)
	}
	if t.w != nil && !t.failed {
		if _, err := t.w.Write(p); err != nil {
			t.failed = true
		}
	}
	return len(p), nil
}

// fetchBlob downloads a blob into a new upload session, streaming it to out
// as it arrives, and commits it only if its size and digest verify; a bad
// download leaves nothing behind.
func (s *Service) fetchBlob(ctx context.Context, pc cachedConfig, repo, path string, d digest.Digest, size int64, out *teeTarget) error {
	resp, err := pc.remote.getBlob(ctx, pc.remote.up.Repository(path), d)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.ContentLength >= 0 && resp.ContentLength != size {
		return core.Errorf(core.CodeSizeInvalid, "upstream blob %s has %d bytes, its manifest says %d", d, resp.ContentLength, size)
	}
	id := newUploadID()
	if err := s.blobs.StartUpload(ctx, id); err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			if err := s.blobs.CancelUpload(context.WithoutCancel(ctx), id); err != nil {
				s.log.WarnContext(ctx, "proxy cache: removing a failed download", "upload", id, "err", err)
			}
		}
	}()
	if out.w != nil {
		hd := out.w.Header()
		hd.Set("Docker-Content-Digest", string(d))
		hd.Set("Content-Type", "application/octet-stream")
		hd.Set("Content-Length", strconv.FormatInt(size, 10))
		out.w.WriteHeader(http.StatusOK)
		out.started = true
	}
	tee := io.TeeReader(resp.Body, out)
	n, err := s.blobs.Append(ctx, id, 0, tee, size)
	if err != nil {
		return core.Wrap(core.CodeUnavailable, err, "downloading the upstream blob")
	}
	if n != size {
		return core.Errorf(core.CodeSizeInvalid, "upstream blob %s has %d bytes, its manifest says %d", d, n, size)
	}
	if _, err := s.blobs.Commit(ctx, id, d); err != nil {
		return err
	}
	committed = true
	if err := s.meta.CommitProxiedBlob(ctx, repo, d, size); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "proxy cache: blob cached", "repository", repo, "digest", d, "size", size)
	return nil
}

func newUploadID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "proxy-" + hex.EncodeToString(b[:])
}
