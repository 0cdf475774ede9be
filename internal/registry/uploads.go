package registry

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

func uploadLocation(name, id string) string { return "/v2/" + name + "/blobs/uploads/" + id }

func blobLocation(name string, d digest.Digest) string { return "/v2/" + name + "/blobs/" + string(d) }

// writeUploadStatus writes the headers that describe an open session.
func writeUploadStatus(w http.ResponseWriter, name, id string, size int64, status int) {
	hd := w.Header()
	hd.Set("Location", uploadLocation(name, id))
	hd.Set("Docker-Upload-UUID", id)
	end := size - 1
	if end < 0 {
		end = 0
	}
	hd.Set("Range", fmt.Sprintf("0-%d", end))
	hd.Set("Content-Length", "0")
	w.WriteHeader(status)
}

func writeBlobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	hd := w.Header()
	hd.Set("Location", blobLocation(name, d))
	hd.Set("Docker-Content-Digest", string(d))
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// startUpload handles POST /v2/<name>/blobs/uploads/: cross-repository mount,
// monolithic upload (?digest=), or a new session.
func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	q := r.URL.Query()
	if err := h.ensureRepository(ctx, rt.name); err != nil {
		return err
	}
	if mount := q.Get("mount"); mount != "" {
		d, err := oci.ParseDigest(mount)
		if err != nil {
			return err
		}
		from := q.Get("from")
		if from != "" {
			if err := oci.ValidateName(from); err != nil {
				return err
			}
		}
		if from != "" && !h.mayMountFrom(ctx, from) {
			err = core.Errorf(core.CodeBlobUnknown, "no access to %s", from)
		} else {
			_, err = h.meta.MountBlob(ctx, rt.name, from, d, h.canReadFunc(ctx))
		}
		if err == nil {
			writeBlobCreated(w, rt.name, d)
			return nil
		}
		if !core.IsCode(err, core.CodeBlobUnknown) {
			return err
		}
		// Not mountable: fall through to a normal upload session.
	}
	if dq := q.Get("digest"); dq != "" {
		d, err := oci.ParseDigest(dq)
		if err != nil {
			return err
		}
		return h.monolithic(w, r, rt.name, d)
	}
	id := newUploadID()
	if err := h.blobs.StartUpload(ctx, id); err != nil {
		return err
	}
	if err := h.meta.CreateUpload(ctx, rt.name, id); err != nil {
		_ = h.blobs.CancelUpload(ctx, id)
		return err
	}
	w.Header().Set("OCI-Chunk-Min-Length", "0")
	writeUploadStatus(w, rt.name, id, 0, http.StatusAccepted)
	return nil
}

// monolithic stores a whole blob sent in one POST body.
func (h *Handler) monolithic(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) error {
	ctx := r.Context()
	if err := checkContentLength(r); err != nil {
		return err
	}
	// The namespace's quota refuses a blob before its bytes are accepted
	// when the size is known, and before it is committed otherwise.
	if r.ContentLength > 0 {
		if err := h.meta.CheckBlobQuota(ctx, name, d, r.ContentLength); err != nil {
			return err
		}
	}
	id := newUploadID()
	if err := h.blobs.StartUpload(ctx, id); err != nil {
		return err
	}
	defer func() { _ = h.blobs.CancelUpload(ctx, id) }()
	br := &bodyReader{r: r.Body}
	n, err := h.blobs.Append(ctx, id, 0, br, h.opts.MaxBlobSize)
	if err != nil {
		if br.err != nil {
			return core.Wrap(core.CodeBlobUploadInvalid, br.err, "reading the request body failed")
		}
		return err
	}
	if r.ContentLength >= 0 && n != r.ContentLength {
		return core.Errorf(core.CodeSizeInvalid, "received %d bytes, Content-Length says %d", n, r.ContentLength)
	}
	if r.ContentLength < 0 {
		if err := h.meta.CheckBlobQuota(ctx, name, d, n); err != nil {
			return err
		}
	}
	info, err := h.blobs.Commit(ctx, id, d)
	if err != nil {
		return err
	}
	if err := h.meta.CommitBlob(ctx, name, d, info.Size, ""); err != nil {
		return err
	}
	writeBlobCreated(w, name, d)
	return nil
}

func checkContentLength(r *http.Request) error {
	if v := r.Header.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
			return core.Errorf(core.CodeSizeInvalid, "invalid Content-Length")
		}
	}
	return nil
}

// session loads an upload session of the route's repository and its size.
func (h *Handler) session(r *http.Request, rt route) (int64, error) {
	_, size, err := h.sessionInfo(r, rt)
	return size, err
}

// sessionInfo is session with the session's record.
func (h *Handler) sessionInfo(r *http.Request, rt route) (core.Upload, int64, error) {
	u, err := h.meta.Upload(r.Context(), rt.name, rt.arg)
	if err != nil {
		return u, 0, err
	}
	size, err := h.blobs.UploadSize(r.Context(), rt.arg)
	return u, size, err
}

// touchInterval is how stale a session's last-activity time may get before
// a PATCH refreshes it; idle sessions expire after hours, so refreshing on
// every chunk would cost a database write per chunk for nothing.
const touchInterval = time.Minute

func (h *Handler) uploadStatus(w http.ResponseWriter, r *http.Request, rt route) error {
	size, err := h.session(r, rt)
	if err != nil {
		return err
	}
	writeUploadStatus(w, rt.name, rt.arg, size, http.StatusNoContent)
	return nil
}

// appendBody appends the request body to the session, honouring an optional
// Content-Range that must start at the session's current size.
// Without Content-Range (a streamed PATCH) the body is appended at the end.
func (h *Handler) appendBody(r *http.Request, id string, size int64) (int64, error) {
	ctx := r.Context()
	if err := checkContentLength(r); err != nil {
		return size, err
	}
	body := io.Reader(r.Body)
	if cr := r.Header.Get("Content-Range"); cr != "" {
		start, end, err := oci.ParseContentRange(cr)
		if err != nil {
			return size, err
		}
		if start != size {
			return size, core.Errorf(core.CodeRangeInvalid, "upload is at offset %d, chunk starts at %d", size, start)
		}
		want := end - start + 1
		if r.ContentLength >= 0 && r.ContentLength != want {
			return size, core.Errorf(core.CodeRangeInvalid, "Content-Range covers %d bytes, Content-Length is %d", want, r.ContentLength)
		}
		body = io.LimitReader(r.Body, want)
	}
	br := &bodyReader{r: body}
	n, err := h.blobs.Append(ctx, id, size, br, h.opts.MaxBlobSize)
	if err != nil {
		if br.err != nil {
			// The client went away or sent a broken body; what arrived is
			// kept and the upload can resume from the reported offset.
			return n, core.Wrap(core.CodeBlobUploadInvalid, br.err, "reading the request body failed")
		}
		return n, err
	}
	if r.ContentLength >= 0 && n-size != r.ContentLength {
		return n, core.Errorf(core.CodeSizeInvalid, "received %d bytes, Content-Length says %d", n-size, r.ContentLength)
	}
	return n, nil
}

func (h *Handler) patchUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	u, size, err := h.sessionInfo(r, rt)
	if err != nil {
		return err
	}
	n, err := h.appendBody(r, rt.arg, size)
	if err != nil {
		if core.IsCode(err, core.CodeRangeInvalid) {
			hd := w.Header()
			hd.Set("Location", uploadLocation(rt.name, rt.arg))
			hd.Set("Range", fmt.Sprintf("0-%d", max(n-1, 0)))
			hd.Set("Docker-Upload-UUID", rt.arg)
		}
		return err
	}
	if time.Since(u.UpdatedAt) > touchInterval {
		if err := h.meta.TouchUpload(r.Context(), rt.arg); err != nil {
			return err
		}
	}
	writeUploadStatus(w, rt.name, rt.arg, n, http.StatusAccepted)
	return nil
}

func (h *Handler) finishUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	dq := r.URL.Query().Get("digest")
	if dq == "" {
		return core.Errorf(core.CodeDigestInvalid, "the digest query parameter is required")
	}
	d, err := oci.ParseDigest(dq)
	if err != nil {
		return err
	}
	size, err := h.session(r, rt)
	if err != nil {
		return err
	}
	if r.ContentLength != 0 {
		if size, err = h.appendBody(r, rt.arg, size); err != nil {
			return err
		}
	}
	if err := h.meta.CheckBlobQuota(ctx, rt.name, d, size); err != nil {
		return err
	}
	info, err := h.blobs.Commit(ctx, rt.arg, d)
	if err != nil {
		return err
	}
	if err := h.meta.CommitBlob(ctx, rt.name, d, info.Size, rt.arg); err != nil {
		return err
	}
	writeBlobCreated(w, rt.name, d)
	return nil
}

func (h *Handler) cancelUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	if _, err := h.meta.Upload(ctx, rt.name, rt.arg); err != nil {
		return err
	}
	if err := h.meta.DeleteUpload(ctx, rt.arg); err != nil {
		return err
	}
	if err := h.blobs.CancelUpload(ctx, rt.arg); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// bodyReader remembers a read error of the request body, so a client that
// disconnects mid-upload is told (and logged) as a bad request, not a
// server failure.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}
