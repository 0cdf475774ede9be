package registry

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

func (h *Handler) getManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	ref, err := oci.ParseReference(rt.arg)
	if err != nil {
		if core.IsCode(err, core.CodeTagInvalid) {
			return core.Errorf(core.CodeManifestUnknown, "manifest %q not found", rt.arg)
		}
		return err
	}
	var m core.Manifest
	proxied := false
	if h.opts.Upstream != nil {
		m, proxied, err = h.opts.Upstream.Manifest(r.Context(), rt.name, ref, strings.Join(r.Header.Values("Accept"), ", "))
	}
	if !proxied && err == nil {
		m, err = h.meta.Manifest(r.Context(), rt.name, ref)
	}
	if err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Content-Type", m.MediaType)
	hd.Set("Docker-Content-Digest", string(m.Digest))
	hd.Set("ETag", `"`+string(m.Digest)+`"`)
	hd.Set("Content-Length", strconv.Itoa(len(m.Content)))
	if match := r.Header.Get("If-None-Match"); match != "" && match == `"`+string(m.Digest)+`"` {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(m.Content)
		h.recordPull(r.Context(), rt.name, ref, m.Digest)
	}
	return nil
}

func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	ref, err := oci.ParseReference(rt.arg)
	if err != nil {
		return err
	}
	var tags []string
	if !ref.IsDigest() {
		tags = append(tags, ref.Tag)
	}
	for _, t := range r.URL.Query()["tag"] {
		if err := oci.ValidateTag(t); err != nil {
			return err
		}
		tags = append(tags, t)
	}
	body, err := readManifestBody(r)
	if err != nil {
		return err
	}
	var want digest.Digest
	if ref.IsDigest() {
		want = ref.Digest
	}
	m, d, err := oci.VerifyManifest(body, r.Header.Get("Content-Type"), want)
	if err != nil {
		return err
	}
	put := store.ManifestPut(rt.name, d, body, m, tags)
	// A sparse image manifest may name layers the registry does not hold.
	put.AllowMissingBlobs = h.opts.AllowSparseManifests
	// Kept with the manifest even when pushed by digest: an index tagged
	// later acts on the labels its children share.
	if put.Labels, err = oci.ManifestLabels(r.Context(), m, h.openBlob); err != nil {
		return err
	}
	// A missing repository is created in the manifest's own transaction,
	// so a rejected manifest leaves no empty repository behind.
	create, err := h.newRepository(r.Context(), rt.name)
	if err != nil {
		return err
	}
	put.Create = create
	if err := h.meta.PutManifest(r.Context(), put); err != nil {
		return err
	}
	hd := w.Header()
	if m.Subject != nil {
		hd.Set("OCI-Subject", string(m.Subject.Digest))
	}
	for _, t := range tags {
		hd.Add("OCI-Tag", t)
	}
	hd.Set("Location", "/v2/"+rt.name+"/manifests/"+string(d))
	hd.Set("Docker-Content-Digest", string(d))
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// readManifestBody reads at most oci.MaxManifestSize bytes.
func readManifestBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > oci.MaxManifestSize {
		return nil, core.Errorf(core.CodeTooLarge, "manifest larger than %d bytes", oci.MaxManifestSize)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	n, err := io.Copy(&buf, io.LimitReader(r.Body, oci.MaxManifestSize+1))
	if err != nil {
		return nil, core.Wrap(core.CodeManifestInvalid, err, "reading manifest body")
	}
	if n > oci.MaxManifestSize {
		return nil, core.Errorf(core.CodeTooLarge, "manifest larger than %d bytes", oci.MaxManifestSize)
	}
	if r.ContentLength >= 0 && n != r.ContentLength {
		return nil, core.Errorf(core.CodeSizeInvalid, "received %d bytes, Content-Length says %d", n, r.ContentLength)
	}
	return buf.Bytes(), nil
}

func (h *Handler) deleteManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	ref, err := oci.ParseReference(rt.arg)
	if err != nil {
		return err
	}
	if ref.IsDigest() {
		err = h.meta.DeleteManifest(r.Context(), rt.name, ref.Digest)
	} else {
		err = h.meta.DeleteTag(r.Context(), rt.name, ref.Tag)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
