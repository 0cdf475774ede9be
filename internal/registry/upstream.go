package registry

import (
	"context"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

// Upstream fills the misses of proxy-cache namespaces (Quay's pull-through
// cache) from their upstream registries. The registry consults it on every
// manifest pull and on blob misses; the upstream client lives elsewhere.
type Upstream interface {
	// Manifest returns the manifest ref of repo when repo's namespace is a
	// proxy cache (ok true), fetching or revalidating it upstream as its
	// rules say; ok false means "not a proxy cache: serve it locally".
	// accept is the client's Accept header, forwarded upstream.
	Manifest(ctx context.Context, repo string, ref oci.Reference, accept string) (m core.Manifest, ok bool, err error)
	// ServeBlob fills a miss of blob d in repo. served true means it
	// answered the request itself (streaming the upstream's bytes while
	// storing them); served false with a nil error means the blob is now
	// stored and linked to repo (or the namespace is no proxy cache), and
	// the registry serves it as usual.
	ServeBlob(w http.ResponseWriter, r *http.Request, repo string, d digest.Digest) (served bool, err error)
}
