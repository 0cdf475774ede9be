package registry

import (
	"fmt"
	"net/http"
	"time"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

func (h *Handler) getBlob(w http.ResponseWriter, r *http.Request, rt route) error {
	d, err := oci.ParseDigest(rt.arg)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := h.meta.RepositoryBlob(ctx, rt.name, d); err != nil {
		if h.opts.Upstream == nil || !core.IsCode(err, core.CodeBlobUnknown) {
			return err
		}
		// A proxy cache fetches the miss upstream.
		if served, err := h.opts.Upstream.ServeBlob(w, r, rt.name, d); served || err != nil {
			return err
		}
		if _, err := h.meta.RepositoryBlob(ctx, rt.name, d); err != nil {
			return err
		}
	}
	if rd, ok := h.blobs.(blob.Redirector); ok && r.Method == http.MethodGet {
		u, err := rd.RedirectURL(ctx, d)
		if err != nil {
			return err
		}
		if u != "" {
			w.Header().Set("Docker-Content-Digest", string(d))
			w.Header().Set("Location", u)
			w.WriteHeader(http.StatusTemporaryRedirect)
			return nil
		}
	}
	f, info, err := h.blobs.Open(ctx, d)
	if err != nil {
		if core.IsCode(err, core.CodeBlobUnknown) {
			h.log.ErrorContext(ctx, "blob recorded but missing from storage", "digest", d, "repository", rt.name)
		}
		return err
	}
	defer f.Close()
	// Validate Range here so an unsatisfiable one gets the JSON error body,
	// and serve several ranges as the whole blob rather than multipart.
	if rng := r.Header.Get("Range"); rng != "" && info.Size > 0 {
		_, ok, err := oci.ParseRange(rng, info.Size)
		if err != nil {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", info.Size))
			return err
		}
		if !ok {
			r.Header.Del("Range")
		}
	}
	hd := w.Header()
	hd.Set("Docker-Content-Digest", string(d))
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("ETag", `"`+string(d)+`"`)
	hd.Set("Cache-Control", "max-age=31536000")
	if info.Size == 0 {
		hd.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	// ServeContent handles Range (206/416) and HEAD; an *os.File is sent with
	// sendfile.
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}

func (h *Handler) deleteBlob(w http.ResponseWriter, r *http.Request, rt route) error {
	d, err := oci.ParseDigest(rt.arg)
	if err != nil {
		return err
	}
	if err := h.meta.UnlinkBlob(r.Context(), rt.name, d); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
