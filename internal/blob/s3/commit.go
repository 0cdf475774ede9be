package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
)

func mismatch(got, want digest.Digest) error {
	return core.Errorf(core.CodeDigestInvalid, "content digest %s does not match %s", got, want)
}

// Commit implements blob.Store. Nothing is written under the blob key before
// the content is verified; a mismatch keeps the session (completed into its
// data object when the check needed to read the bytes back).
func (s *Store) Commit(ctx context.Context, id string, d digest.Digest) (blob.Info, error) {
	if d.Validate() != nil {
		return blob.Info{}, core.Errorf(core.CodeDigestInvalid, "invalid digest")
	}
	st, err := s.loadState(ctx, id)
	if err != nil {
		return blob.Info{}, err
	}
	info := blob.Info{Digest: d, Size: st.Size}
	verified := false
	if d.Algorithm() == digest.SHA256 {
		if h := st.hash(); h != nil {
			if got := digest.NewDigest(digest.SHA256, h); got != d {
				return blob.Info{}, mismatch(got, d)
			}
			verified = true
		}
	}
	if st.Base == 0 && st.Multipart == "" {
		if err := s.commitTail(ctx, id, st, d); err != nil {
			return blob.Info{}, err
		}
		return info, nil
	}
	if st.Multipart != "" || st.TailSize > 0 {
		if err := s.complete(ctx, id, st); err != nil {
			return blob.Info{}, err
		}
	}
	// The data object now holds the whole session.
	key := s.dataKey(id)
	oi, err := s.core.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return blob.Info{}, fmt.Errorf("commit: stat upload data: %w", err)
	}
	if oi.Size != st.Size {
		return blob.Info{}, fmt.Errorf("commit: upload data holds %d bytes, the session %d", oi.Size, st.Size)
	}
	if !verified {
		got, h256, err := s.hashObject(ctx, key, oi.ETag, oi.Size, d.Algorithm())
		if err != nil {
			return blob.Info{}, err
		}
		if got != d {
			if st.hash() == nil {
				// Spare the next attempt the read if it is sha256.
				st.setHash(h256)
				_ = s.saveState(ctx, id, st)
			}
			return blob.Info{}, mismatch(got, d)
		}
	}
	dst := s.blobKey(d)
	ok, err := s.exists(ctx, dst)
	if err != nil {
		return blob.Info{}, fmt.Errorf("commit: %w", err)
	}
	if !ok {
		// Server-side copy of exactly the verified version (pinned by
		// ETag). One CopyObject up to 5 GiB, a multipart copy beyond.
		src := minio.CopySrcOptions{Bucket: s.bucket, Object: key, MatchETag: oi.ETag}
		dstOpts := minio.CopyDestOptions{Bucket: s.bucket, Object: dst}
		if oi.Size <= maxCopyPart {
			_, err = s.core.Client.CopyObject(ctx, dstOpts, src)
		} else {
			_, err = s.core.ComposeObject(ctx, dstOpts, src)
		}
		if err != nil {
			return blob.Info{}, fmt.Errorf("commit: copy to blob: %w", err)
		}
	}
	// The blob is durable; leftovers are found by Uploads.
	_ = s.removeSession(ctx, id, st, true)
	return info, nil
}

// commitTail commits a session without parts: its tail, verified in memory,
// is written in one PutObject.
func (s *Store) commitTail(ctx context.Context, id string, st *state, d digest.Digest) error {
	bufp := s.getBuf()
	defer s.putBuf(bufp)
	data, err := s.readTail(ctx, id, st, (*bufp)[:0])
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	h := d.Algorithm().Hash()
	h.Write(data)
	if got := digest.NewDigest(d.Algorithm(), h); got != d {
		return mismatch(got, d)
	}
	dst := s.blobKey(d)
	ok, err := s.exists(ctx, dst)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if !ok {
		sha := "" // lets the server check the body too
		if d.Algorithm() == digest.SHA256 {
			sha = d.Encoded()
		}
		_, err := s.core.PutObject(ctx, s.bucket, dst, bytes.NewReader(data), int64(len(data)), "", sha,
			minio.PutObjectOptions{ContentType: blobContentType})
		if err != nil {
			return fmt.Errorf("commit: write blob: %w", err)
		}
	}
	_ = s.removeSession(ctx, id, st, false)
	return nil
}

// complete turns the session into its data object: the tail is uploaded as
// the last part and the multipart upload completed (one is started first if
// the session is Base bytes plus a tail). The state is saved with Base = Size.
func (s *Store) complete(ctx context.Context, id string, st *state) (err error) {
	key := s.dataKey(id)
	if st.Multipart == "" {
		if err := s.ensureMultipart(ctx, id, st); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		uid := st.Multipart
		defer func() {
			if err != nil {
				_ = s.core.AbortMultipartUpload(context.WithoutCancel(ctx), s.bucket, key, uid)
			}
		}()
	}
	parts := make([]minio.CompletePart, 0, len(st.Parts)+1)
	for _, p := range st.Parts {
		parts = append(parts, minio.CompletePart{PartNumber: p.Number, ETag: p.ETag})
	}
	if st.TailSize > 0 {
		bufp := s.getBuf()
		defer s.putBuf(bufp)
		tail, err := s.readTail(ctx, id, st, (*bufp)[:0])
		if err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		num := len(parts) + 1
		p, err := s.core.PutObjectPart(ctx, s.bucket, key, st.Multipart, num, bytes.NewReader(tail), int64(len(tail)), minio.PutObjectPartOptions{})
		if isNoSuchUpload(err) {
			return s.adoptOrLose(ctx, id, st)
		}
		if err != nil {
			return fmt.Errorf("commit: upload last part: %w", err)
		}
		parts = append(parts, minio.CompletePart{PartNumber: num, ETag: p.ETag})
	}
	_, err = s.core.CompleteMultipartUpload(ctx, s.bucket, key, st.Multipart, parts, minio.PutObjectOptions{})
	if isNoSuchUpload(err) {
		return s.adoptOrLose(ctx, id, st)
	}
	if err != nil {
		return fmt.Errorf("commit: complete multipart upload: %w", err)
	}
	oldTail := st.Tail
	st.Multipart, st.Parts, st.Base, st.Tail, st.TailSize = "", nil, st.Size, "", 0
	if err := s.saveState(ctx, id, st); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.removeTail(ctx, id, oldTail)
	return nil
}

// adoptOrLose handles a vanished multipart upload during Commit: a previous
// Commit completed it (and crashed before saving the state), or the bytes are
// gone (aborted, for example by a bucket lifecycle rule).
func (s *Store) adoptOrLose(ctx context.Context, id string, st *state) error {
	adopted, err := s.adoptData(ctx, id, st)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if !adopted {
		return blob.ErrUploadUnknown(id)
	}
	return nil
}

// hashObject reads exactly the version etag of key (size bytes) and returns
// its digest with alg and its sha256 hash state.
func (s *Store) hashObject(ctx context.Context, key, etag string, size int64, alg digest.Algorithm) (digest.Digest, hash.Hash, error) {
	opts := minio.GetObjectOptions{}
	if err := opts.SetMatchETag(etag); err != nil {
		return "", nil, fmt.Errorf("commit: %w", err)
	}
	rc, _, _, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return "", nil, fmt.Errorf("commit: read upload data: %w", err)
	}
	defer rc.Close()
	h := alg.Hash()
	h256, w := h, io.Writer(h)
	if alg != digest.SHA256 {
		h256 = sha256.New()
		w = io.MultiWriter(h, h256)
	}
	bufp := s.getBuf()
	n, err := io.CopyBuffer(w, rc, (*bufp)[:cap(*bufp)])
	s.putBuf(bufp)
	if err != nil {
		return "", nil, fmt.Errorf("commit: read upload data: %w", err)
	}
	if n != size {
		return "", nil, fmt.Errorf("commit: read %d bytes of upload data, want %d", n, size)
	}
	return digest.NewDigest(alg, h), h256, nil
}
