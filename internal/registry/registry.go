package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/httpx"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// Metadata is what the registry needs from the metadata store.
type Metadata interface {
	Repository(ctx context.Context, name string) (core.Repository, error)
	CreateRepository(ctx context.Context, nr store.NewRepository) (core.Repository, error)
	ListRepositories(ctx context.Context, f store.RepositoryFilter) ([]core.Repository, error)

	RepositoryBlob(ctx context.Context, repo string, d digest.Digest) (int64, error)
	CommitBlob(ctx context.Context, repo string, d digest.Digest, size int64, uploadID string) error
	CheckBlobQuota(ctx context.Context, repo string, d digest.Digest, size int64) error
	MountBlob(ctx context.Context, repo, from string, d digest.Digest, canRead func(string) bool) (int64, error)
	UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error

	CreateUpload(ctx context.Context, repo, id string) error
	Upload(ctx context.Context, repo, id string) (core.Upload, error)
	TouchUpload(ctx context.Context, id string) error
	DeleteUpload(ctx context.Context, id string) error

	PutManifest(ctx context.Context, m store.PutManifest) error
	Manifest(ctx context.Context, repo string, ref oci.Reference) (core.Manifest, error)
	DeleteManifest(ctx context.Context, repo string, d digest.Digest) error
	DeleteTag(ctx context.Context, repo, tag string) error
	Tags(ctx context.Context, repo, last string, n int) ([]string, error)
	Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]core.Descriptor, error)
}

// Options configures the registry.
type Options struct {
	// MaxBlobSize bounds one blob upload in bytes; 0 means no limit.
	MaxBlobSize int64
	// AllowSparseManifests accepts image manifests whose config or layers
	// are not in the repository (the spec's "sparse" manifests). Off by
	// default: such pushes fail with MANIFEST_BLOB_UNKNOWN. Index children
	// are never required.
	AllowSparseManifests bool
	// Access enables authentication and authorization; nil serves
	// everyone (protocol unit tests only).
	Access *Access
	// MaxListPage bounds n for tag and catalog listings; 0 means 10000.
	MaxListPage int
	// Audit logs logins on /v2/auth and Pulls logs manifest pulls (audit.go);
	// nil logs nothing.
	Audit Auditor
	Pulls PullRecorder
	// Upstream serves proxy-cache namespaces (upstream.go); nil: none.
	Upstream Upstream
}

// Handler serves /v2/.
type Handler struct {
	meta  Metadata
	blobs blob.Store
	log   *slog.Logger
	opts  Options
}

// New returns the /v2/ handler.
func New(meta Metadata, blobs blob.Store, log *slog.Logger, opts Options) *Handler {
	if opts.MaxListPage <= 0 {
		opts.MaxListPage = 10000
	}
	return &Handler{meta: meta, blobs: blobs, log: log, opts: opts}
}

// handlerFunc is a handler that returns its error for one place to write.
type handlerFunc func(w http.ResponseWriter, r *http.Request, rt route) error

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt := parseRoute(r.URL.Path)
	httpx.SetRepository(r.Context(), rt.name)
	fn, err := h.dispatch(r, rt)
	write := isWrite(r.Method, rt.kind)
	if err == nil && write && h.opts.Access != nil {
		// The registry-wide state is no secret: say so before anything else.
		err = h.opts.Access.Authz.RegistryWritable(r.Context())
	}
	if err == nil && h.opts.Access != nil {
		var ra *requestAuth
		if ra, err = h.authenticate(r); err == nil {
			if err = h.authorize(r, ra, rt); err == nil {
				r = r.WithContext(context.WithValue(r.Context(), authKey{}, ra))
				r = withActor(r, ra)
				if a, ok := core.ActorFrom(r.Context()); ok {
					httpx.SetActor(r.Context(), a.Username)
				}
			}
		}
	}
	if err == nil && write {
		err = h.repositoryWritable(r.Context(), rt.name)
	}
	if err == nil {
		err = fn(w, r, rt)
	}
	if err != nil {
		writeError(w, r, h.log, err)
	}
}

// isWrite reports whether a request would change a repository.
func isWrite(method string, kind routeKind) bool {
	if kind == routeBase || kind == routeCatalog || kind == routeUnknown {
		return false
	}
	return method != http.MethodGet && method != http.MethodHead
}

// repositoryWritable refuses writes to an existing repository whose state is
// not NORMAL (core.CodeReadOnly). It runs after authorization, so only
// callers allowed to write learn the state.
func (h *Handler) repositoryWritable(ctx context.Context, name string) error {
	repo, err := h.meta.Repository(ctx, name)
	if err != nil {
		if core.IsCode(err, core.CodeNameUnknown) {
			return nil
		}
		return err
	}
	return auth.RepositoryWritable(repo)
}

func (h *Handler) dispatch(r *http.Request, rt route) (handlerFunc, error) {
	if rt.kind == routeUnknown {
		return nil, &statusError{http.StatusNotFound, "NOT_FOUND", "no such endpoint"}
	}
	if rt.kind != routeBase && rt.kind != routeCatalog {
		if err := oci.ValidateName(rt.name); err != nil {
			return nil, err
		}
	}
	m := r.Method
	switch rt.kind {
	case routeBase:
		if m == http.MethodGet || m == http.MethodHead {
			return h.base, nil
		}
	case routeCatalog:
		if m == http.MethodGet {
			return h.catalog, nil
		}
	case routeTags:
		if m == http.MethodGet {
			return h.tags, nil
		}
	case routeManifest:
		switch m {
		case http.MethodGet, http.MethodHead:
			return h.getManifest, nil
		case http.MethodPut:
			return h.putManifest, nil
		case http.MethodDelete:
			return h.deleteManifest, nil
		}
	case routeBlob:
		switch m {
		case http.MethodGet, http.MethodHead:
			return h.getBlob, nil
		case http.MethodDelete:
			return h.deleteBlob, nil
		}
	case routeUploadStart:
		if m == http.MethodPost {
			return h.startUpload, nil
		}
	case routeUpload:
		switch m {
		case http.MethodGet:
			return h.uploadStatus, nil
		case http.MethodPatch:
			return h.patchUpload, nil
		case http.MethodPut:
			return h.finishUpload, nil
		case http.MethodDelete:
			return h.cancelUpload, nil
		}
	case routeReferrers:
		if m == http.MethodGet {
			return h.referrers, nil
		}
	}
	return nil, errMethod(m)
}

func (h *Handler) base(w http.ResponseWriter, r *http.Request, _ route) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte("{}"))
	}
	return nil
}

// newUploadID returns a random upload session id.
func newUploadID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
