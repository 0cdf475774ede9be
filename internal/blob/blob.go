package blob

import (
	"context"
	_ "crypto/sha256" // register sha256 with go-digest
	_ "crypto/sha512" // register sha512 with go-digest
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
)

// Info describes a stored blob.
type Info struct {
	Digest digest.Digest
	Size   int64
}

// Store is a content-addressed blob store with resumable upload sessions.
//
// Upload sessions are identified by an opaque id chosen by the caller
// (ValidUploadID). They survive process restarts. Appends must start at the
// session's current size, which makes every append idempotent to retry.
type Store interface {
	// Stat returns the blob's size, or an error with core.CodeBlobUnknown.
	Stat(ctx context.Context, d digest.Digest) (Info, error)
	// Open returns the blob's content. The reader may also implement
	// io.ReaderFrom-friendly types such as *os.File for zero-copy serving.
	Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, Info, error)
	// Delete removes the blob's bytes. Deleting a missing blob is not an error.
	Delete(ctx context.Context, d digest.Digest) error

	// StartUpload creates an empty upload session.
	StartUpload(ctx context.Context, id string) error
	// UploadSize returns the number of bytes received so far, or an error with
	// core.CodeBlobUploadUnknown.
	UploadSize(ctx context.Context, id string) (int64, error)
	// Append writes r at offset, which must equal the current size
	// (core.CodeRangeInvalid otherwise), and returns the new size. Bytes are
	// durable when it returns. limit, if > 0, bounds the session's total size
	// (core.CodeSizeInvalid beyond it).
	Append(ctx context.Context, id string, offset int64, r io.Reader, limit int64) (int64, error)
	// Commit verifies the session's content against d (core.CodeDigestInvalid
	// on mismatch, the session is kept), makes it durable under d and removes the
	// session. Committing content that is already stored just removes the session.
	Commit(ctx context.Context, id string, d digest.Digest) (Info, error)
	// CancelUpload removes a session and its bytes. Missing sessions are not an error.
	CancelUpload(ctx context.Context, id string) error
}

// ValidUploadID reports whether id is a well-formed upload session id: 16 to 64
// characters of [a-z0-9-]. Drivers use it to refuse path tricks.
func ValidUploadID(id string) bool {
	if len(id) < 16 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ErrUploadUnknown is returned for a missing or malformed upload session.
func ErrUploadUnknown(id string) error {
	return core.Errorf(core.CodeBlobUploadUnknown, "upload %q not found", truncate(id))
}

// ErrBlobUnknown is returned for a missing blob.
func ErrBlobUnknown(d digest.Digest) error {
	return core.Errorf(core.CodeBlobUnknown, "blob %s not found", truncate(string(d)))
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// UploadLister is implemented by stores that can list their upload sessions,
// so garbage collection can remove sessions the database does not know (a
// crash between creating a session's bytes and recording it).
type UploadLister interface {
	// Uploads lists session ids whose last write is older than before.
	Uploads(ctx context.Context, before time.Time) ([]string, error)
}

// Redirector is implemented by stores that can hand clients a short-lived
// URL to download a blob directly (Quay's direct download), so the bytes
// bypass the registry. An empty URL means "serve it yourself".
type Redirector interface {
	RedirectURL(ctx context.Context, d digest.Digest) (string, error)
}
