package app

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/ui"
)

// mountUI serves the web UI at / (index.html for its routes, /static/ for
// its assets). More specific patterns (/v2/, /api/v1/, /oauth2/…, health
// and metrics) keep their handlers.
func mountUI(mux *http.ServeMux) error {
	h, err := ui.New()
	if err != nil {
		return err
	}
	mux.Handle("/", h)
	return nil
}

// apiBlobs lets the API read small stored blobs (the image configs whose
// labels the web UI lists) through the blob store.
type apiBlobs struct{ blobs blob.Store }

func (b apiBlobs) ReadBlob(ctx context.Context, d digest.Digest, limit int64) ([]byte, error) {
	rc, _, err := b.blobs.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", d, err)
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", d, limit)
	}
	return raw, nil
}
