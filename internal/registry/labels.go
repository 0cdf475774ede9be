package registry

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"
)

// openBlob opens a stored blob for oci.ManifestLabels, which reads a pushed
// image's config Labels the way every writer of manifests does.
func (h *Handler) openBlob(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	rc, _, err := h.blobs.Open(ctx, d)
	return rc, err
}
