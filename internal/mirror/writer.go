package mirror

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// Content is what writing into Wharf needs from the store.
type Content interface {
	Repository(ctx context.Context, name string) (core.Repository, error)
	RepositoryBlob(ctx context.Context, repo string, d digest.Digest) (int64, error)
	CommitBlob(ctx context.Context, repo string, d digest.Digest, size int64, uploadID string) error
	CheckBlobQuota(ctx context.Context, repo string, d digest.Digest, size int64) error
	MountBlob(ctx context.Context, repo, from string, d digest.Digest, canRead func(string) bool) (int64, error)
	PutManifest(ctx context.Context, m store.PutManifest) error
	Manifest(ctx context.Context, repo string, ref oci.Reference) (core.Manifest, error)
}

// Writer writes blobs and manifests into a repository with the checks of a
// push: blob bytes are verified against their digest as they are
// committed, manifests are parsed and digested, quota applies.
type Writer struct {
	Meta  Content
	Blobs blob.Store
	// MaxBlobSize bounds one blob (0: no limit).
	MaxBlobSize int64
	// CanRead says whether a blob of another repository may be linked
	// instead of written again; nil never links.
	CanRead func(ctx context.Context, repo string) bool
}

// HasManifest reports whether repo holds a live manifest d.
func (w *Writer) HasManifest(ctx context.Context, repo string, d digest.Digest) (bool, error) {
	_, err := w.Meta.Manifest(ctx, repo, oci.Reference{Digest: d})
	switch {
	case err == nil:
		return true, nil
	case core.IsCode(err, core.CodeManifestUnknown), core.IsCode(err, core.CodeNameUnknown):
		return false, nil
	}
	return false, err
}

// EnsureBlob makes blob d available in repo: already linked, linked from
// another repository the writer may read, or written from open's bytes
// (verified against d; size, when >= 0, must match). written reports
// whether bytes were read.
func (w *Writer) EnsureBlob(ctx context.Context, repo string, d digest.Digest, size int64,
	open func(ctx context.Context) (io.ReadCloser, error)) (written bool, err error) {
	if err := d.Validate(); err != nil {
		return false, core.Wrap(core.CodeDigestInvalid, err, "invalid blob digest")
	}
	if _, err := w.Meta.RepositoryBlob(ctx, repo, d); err == nil {
		return false, nil
	} else if !core.IsCode(err, core.CodeBlobUnknown) && !core.IsCode(err, core.CodeNameUnknown) {
		return false, err
	}
	if w.CanRead != nil {
		_, err := w.Meta.MountBlob(ctx, repo, "", d, func(src string) bool { return src != repo && w.CanRead(ctx, src) })
		if err == nil {
			return false, nil
		}
		if !core.IsCode(err, core.CodeBlobUnknown) {
			return false, err
		}
	}
	if size >= 0 {
		if err := w.Meta.CheckBlobQuota(ctx, repo, d, size); err != nil {
			return false, err
		}
		if w.MaxBlobSize > 0 && size > w.MaxBlobSize {
			return false, core.Errorf(core.CodeTooLarge, "blob %s is larger than %d bytes", d, w.MaxBlobSize)
		}
	}
	rc, err := open(ctx)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	id, err := uploadID()
	if err != nil {
		return false, err
	}
	if err := w.Blobs.StartUpload(ctx, id); err != nil {
		return false, err
	}
	committed := false
	defer func() {
		if !committed {
			_ = w.Blobs.CancelUpload(context.WithoutCancel(ctx), id)
		}
	}()
	n, err := w.Blobs.Append(ctx, id, 0, rc, w.MaxBlobSize)
	if err != nil {
		return true, err
	}
	if size >= 0 && n != size {
		return true, core.Errorf(core.CodeSizeInvalid, "blob %s has %d bytes, its descriptor says %d", d, n, size)
	}
	if size < 0 {
		if err := w.Meta.CheckBlobQuota(ctx, repo, d, n); err != nil {
			return true, err
		}
	}
	info, err := w.Blobs.Commit(ctx, id, d)
	if err != nil {
		return true, err
	}
	committed = true
	return true, w.Meta.CommitBlob(ctx, repo, d, info.Size, "")
}

func uploadID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "mirror-" + hex.EncodeToString(b[:]), nil
}

// ParseManifest checks raw against its expected digest and parses it, as
// a push by digest does (oci.VerifyManifest); want is required.
func ParseManifest(raw []byte, mediaType string, want digest.Digest) (*oci.Manifest, error) {
	if want == "" {
		return nil, core.Wrap(core.CodeDigestInvalid, want.Validate(), "invalid manifest digest")
	}
	m, _, err := oci.VerifyManifest(raw, mediaType, want)
	return m, err
}

// PutManifest stores a parsed manifest (whose blobs must be in the
// repository; an index's children need not be) and points tags at it. The
// write and its quay.* labels are built as a push builds them
// (store.ManifestPut, oci.ManifestLabels), so quay.expires-after and
// quay.immutable act on mirrored and imported tags too.
func (w *Writer) PutManifest(ctx context.Context, repo string, raw []byte, m *oci.Manifest, d digest.Digest, tags []string) error {
	put := store.ManifestPut(repo, d, raw, m, tags)
	labels, err := oci.ManifestLabels(ctx, m, w.openBlob)
	if err != nil {
		return err
	}
	put.Labels = labels
	return w.Meta.PutManifest(ctx, put)
}

func (w *Writer) openBlob(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	rc, _, err := w.Blobs.Open(ctx, d)
	return rc, err
}

// errCancelled ends a sync that was cancelled or superseded.
var errCancelled = errors.New("mirror: sync cancelled")
