package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
)

// stateVersion is the format of state.json.
const stateVersion = 1

// errCorruptState marks a state.json that cannot be used; CancelUpload still
// removes such a session.
var errCorruptState = errors.New("corrupt upload state")

// part is one uploaded part of the session's multipart upload.
type part struct {
	Number int    `json:"number"`
	ETag   string `json:"etag"`
	Size   int64  `json:"size"`
}

// state is uploads/<id>/state.json. The session's bytes, in order, are: Base
// bytes of the completed object uploads/<id>/data (only after a Commit whose
// read-back verification failed), the Parts of the multipart upload Multipart
// (whose key is uploads/<id>/data), then TailSize bytes of the object
// uploads/<id>/<Tail>.
type state struct {
	Version   int    `json:"version"`
	Multipart string `json:"multipart_upload_id,omitempty"`
	Parts     []part `json:"parts,omitempty"`
	Base      int64  `json:"base,omitempty"`
	Size      int64  `json:"size"`
	// Hash is the sha256 state (encoding.BinaryMarshaler) of the first
	// HashSize bytes; it is only used when HashSize == Size.
	Hash     []byte `json:"sha256_state,omitempty"`
	HashSize int64  `json:"sha256_size,omitempty"`
	Tail     string `json:"tail,omitempty"`
	TailSize int64  `json:"tail_size,omitempty"`
}

func (st *state) clone() *state {
	c := *st
	c.Parts = append([]part(nil), st.Parts...)
	return &c
}

func (st *state) validate() error {
	sum := st.Base + st.TailSize
	for i, p := range st.Parts {
		if p.Number != i+1 || p.Size <= 0 || p.ETag == "" {
			return fmt.Errorf("part %d is malformed", i+1)
		}
		sum += p.Size
	}
	switch {
	case st.Version != stateVersion:
		return fmt.Errorf("unknown version %d", st.Version)
	case st.Size < 0 || st.Base < 0 || st.TailSize < 0:
		return errors.New("negative size")
	case sum != st.Size:
		return fmt.Errorf("sizes add up to %d, not %d", sum, st.Size)
	case (st.Multipart == "") != (len(st.Parts) == 0):
		return errors.New("parts without a multipart upload or the reverse")
	case st.Base > 0 && st.Multipart != "":
		return errors.New("base bytes beside a multipart upload")
	case (st.TailSize > 0) != (st.Tail != ""), st.Tail != "" && !validTailName(st.Tail):
		return errors.New("malformed tail")
	}
	return nil
}

// hash returns the saved sha256 state if it covers the whole session.
func (st *state) hash() hash.Hash {
	if st.Hash == nil || st.HashSize != st.Size {
		return nil
	}
	h := sha256.New()
	if h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.Hash) != nil {
		return nil
	}
	return h
}

// setHash saves h as the state of the session's bytes, or forgets it.
func (st *state) setHash(h hash.Hash) {
	st.Hash, st.HashSize = nil, 0
	if h == nil {
		return
	}
	if b, err := h.(encoding.BinaryMarshaler).MarshalBinary(); err == nil {
		st.Hash, st.HashSize = b, st.Size
	}
}

func (s *Store) loadState(ctx context.Context, id string) (*state, error) {
	if !blob.ValidUploadID(id) {
		return nil, blob.ErrUploadUnknown(id)
	}
	rc, _, _, err := s.core.GetObject(ctx, s.bucket, s.stateKey(id), minio.GetObjectOptions{})
	if isNotFound(err) {
		return nil, blob.ErrUploadUnknown(id)
	}
	if err != nil {
		return nil, fmt.Errorf("load upload state: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(rc, 4<<20))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("load upload state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("upload %s: %w: %w", id, errCorruptState, err)
	}
	if err := st.validate(); err != nil {
		return nil, fmt.Errorf("upload %s: %w: %w", id, errCorruptState, err)
	}
	return &st, nil
}

func (s *Store) saveState(ctx context.Context, id string, st *state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("save upload state: %w", err)
	}
	if err := s.putSmall(ctx, s.stateKey(id), b, minio.PutObjectOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("save upload state: %w", err)
	}
	return nil
}

// putSmall writes a small in-memory object, retrying a failed write twice.
// S3 gateways over a filesystem can fail a write transiently while another
// request removes the last object of a "directory" on the same path (seen
// with versitygw's posix backend); the bytes are in memory, so retrying is
// safe.
func (s *Store) putSmall(ctx context.Context, key string, b []byte, opts minio.PutObjectOptions) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 25 * time.Millisecond):
			}
		}
		if _, err = s.core.PutObject(ctx, s.bucket, key, bytes.NewReader(b), int64(len(b)), "", "", opts); err == nil {
			return nil
		}
	}
	return err
}

// StartUpload implements blob.Store.
func (s *Store) StartUpload(ctx context.Context, id string) error {
	if !blob.ValidUploadID(id) {
		return blob.ErrUploadUnknown(id)
	}
	ok, err := s.exists(ctx, s.stateKey(id))
	if err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	if ok {
		return fmt.Errorf("start upload: session %s already exists", id)
	}
	st := &state{Version: stateVersion}
	st.setHash(sha256.New())
	return s.saveState(ctx, id, st)
}

// UploadSize implements blob.Store.
func (s *Store) UploadSize(ctx context.Context, id string) (int64, error) {
	st, err := s.loadState(ctx, id)
	if err != nil {
		return 0, err
	}
	return st.Size, nil
}

// readTail appends the session's tail bytes to buf.
func (s *Store) readTail(ctx context.Context, id string, st *state, buf []byte) ([]byte, error) {
	if st.TailSize == 0 {
		return buf, nil
	}
	rc, _, _, err := s.core.GetObject(ctx, s.bucket, s.tailKey(id, st.Tail), minio.GetObjectOptions{})
	if err != nil {
		return buf, fmt.Errorf("read upload tail: %w", err)
	}
	defer rc.Close()
	n := len(buf)
	if int64(cap(buf)-n) < st.TailSize {
		grown := make([]byte, n, int64(n)+st.TailSize)
		copy(grown, buf)
		buf = grown
	}
	buf = buf[:n+int(st.TailSize)]
	if _, err := io.ReadFull(rc, buf[n:]); err != nil {
		return buf[:n], fmt.Errorf("read upload tail: %w", err)
	}
	return buf, nil
}

// ensureMultipart starts the session's multipart upload if it has none. Base
// bytes (a completed data object) are copied in server-side as its first parts.
func (s *Store) ensureMultipart(ctx context.Context, id string, st *state) error {
	if st.Multipart != "" {
		return nil
	}
	key := s.dataKey(id)
	uid, err := s.core.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{ContentType: blobContentType})
	if err != nil {
		return fmt.Errorf("start multipart upload: %w", err)
	}
	var parts []part
	if st.Base > 0 {
		pieces := (st.Base + maxCopyPart - 1) / maxCopyPart
		size := (st.Base + pieces - 1) / pieces
		for off := int64(0); off < st.Base; off += size {
			n := min(size, st.Base-off)
			cp, err := s.core.CopyObjectPart(ctx, s.bucket, key, s.bucket, key, uid, len(parts)+1, off, n, nil)
			if err != nil {
				_ = s.core.AbortMultipartUpload(context.WithoutCancel(ctx), s.bucket, key, uid)
				return fmt.Errorf("copy upload data into a part: %w", err)
			}
			parts = append(parts, part{Number: len(parts) + 1, ETag: cp.ETag, Size: n})
		}
	}
	st.Multipart, st.Parts, st.Base = uid, parts, 0
	return nil
}

// putPart uploads b as the next part of the session's multipart upload.
func (s *Store) putPart(ctx context.Context, id string, st *state, b []byte) error {
	if len(st.Parts) >= maxParts {
		return core.Errorf(core.CodeSizeInvalid, "upload exceeds %d parts of %d bytes", maxParts, s.partSize)
	}
	if err := s.ensureMultipart(ctx, id, st); err != nil {
		return err
	}
	num := len(st.Parts) + 1
	p, err := s.core.PutObjectPart(ctx, s.bucket, s.dataKey(id), st.Multipart, num,
		bytes.NewReader(b), int64(len(b)), minio.PutObjectPartOptions{})
	if isNoSuchUpload(err) {
		return s.lostMultipart(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("upload part %d: %w", num, err)
	}
	st.Parts = append(st.Parts, part{Number: num, ETag: p.ETag, Size: int64(len(b))})
	return nil
}

// lostMultipart handles a multipart upload the server no longer knows. If a
// Commit completed it but crashed before saving the state, the data object
// holds the session and the state is repaired (the caller should retry);
// otherwise the session's bytes are gone.
func (s *Store) lostMultipart(ctx context.Context, id string) error {
	cur, err := s.loadState(ctx, id)
	if err != nil {
		return err
	}
	if adopted, err := s.adoptData(ctx, id, cur); err != nil {
		return err
	} else if adopted {
		return fmt.Errorf("upload %s was completed by an interrupted commit; retry", id)
	}
	return blob.ErrUploadUnknown(id)
}

// adoptData checks whether st's multipart upload was completed into the data
// object (a Commit that crashed before saving the state) and, if so, records
// that in the state.
func (s *Store) adoptData(ctx context.Context, id string, st *state) (bool, error) {
	if st.Multipart == "" {
		return false, nil
	}
	oi, err := s.core.StatObject(ctx, s.bucket, s.dataKey(id), minio.StatObjectOptions{})
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat upload data: %w", err)
	}
	if oi.Size != st.Size {
		return false, nil
	}
	oldTail := st.Tail
	st.Multipart, st.Parts, st.Base, st.Tail, st.TailSize = "", nil, st.Size, "", 0
	if err := s.saveState(ctx, id, st); err != nil {
		return false, err
	}
	s.removeTail(ctx, id, oldTail)
	return true, nil
}

func (s *Store) removeTail(ctx context.Context, id, name string) {
	if name != "" {
		_ = s.core.RemoveObject(ctx, s.bucket, s.tailKey(id, name), minio.RemoveObjectOptions{})
	}
}

func (s *Store) getBuf() *[]byte { return s.bufs.Get().(*[]byte) }

func (s *Store) putBuf(b *[]byte) {
	if int64(cap(*b)) == s.partSize {
		*b = (*b)[:0]
		s.bufs.Put(b)
	}
}

// CancelUpload implements blob.Store.
func (s *Store) CancelUpload(ctx context.Context, id string) error {
	if !blob.ValidUploadID(id) {
		return nil
	}
	st, err := s.loadState(ctx, id)
	if core.IsCode(err, core.CodeBlobUploadUnknown) {
		// The state is removed last, so there is nothing else either.
		return nil
	}
	if err != nil && !errors.Is(err, errCorruptState) {
		return fmt.Errorf("cancel upload: %w", err)
	}
	if err := s.removeSession(ctx, id, st, true); err != nil {
		return fmt.Errorf("cancel upload: %w", err)
	}
	return nil
}

// removeSession aborts the session's multipart uploads (the recorded one and,
// with all, any other on its data key) and deletes its objects, state.json
// last so that a session without a state has nothing left.
func (s *Store) removeSession(ctx context.Context, id string, st *state, all bool) error {
	key := s.dataKey(id)
	if st != nil && st.Multipart != "" {
		if err := s.core.AbortMultipartUpload(ctx, s.bucket, key, st.Multipart); err != nil && !isNoSuchUpload(err) {
			return fmt.Errorf("abort multipart upload: %w", err)
		}
	}
	if all {
		if err := s.abortOrphans(ctx, key); err != nil {
			return err
		}
	}
	stateKey := s.stateKey(id)
	for oi := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.sessionPrefix(id), Recursive: true}) {
		if oi.Err != nil {
			return fmt.Errorf("list upload objects: %w", oi.Err)
		}
		if oi.Key == stateKey {
			continue
		}
		if err := s.core.RemoveObject(ctx, s.bucket, oi.Key, minio.RemoveObjectOptions{}); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete upload object: %w", err)
		}
	}
	if err := s.core.RemoveObject(ctx, s.bucket, stateKey, minio.RemoveObjectOptions{}); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete upload state: %w", err)
	}
	return nil
}

// abortOrphans aborts every multipart upload on key (left by an Append whose
// state was never saved).
func (s *Store) abortOrphans(ctx context.Context, key string) error {
	keyMarker, idMarker := "", ""
	for {
		res, err := s.core.ListMultipartUploads(ctx, s.bucket, key, keyMarker, idMarker, "", 1000)
		if err != nil {
			return fmt.Errorf("list multipart uploads: %w", err)
		}
		for _, u := range res.Uploads {
			if u.Key != key {
				continue
			}
			if err := s.core.AbortMultipartUpload(ctx, s.bucket, key, u.UploadID); err != nil && !isNoSuchUpload(err) {
				return fmt.Errorf("abort multipart upload: %w", err)
			}
		}
		if !res.IsTruncated {
			return nil
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

// Uploads implements blob.UploadLister: sessions whose state.json was last
// written before before.
func (s *Store) Uploads(ctx context.Context, before time.Time) ([]string, error) {
	prefix := s.uploadsPrefix()
	var ids []string
	for oi := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, fmt.Errorf("list uploads: %w", oi.Err)
		}
		id, name, ok := strings.Cut(strings.TrimPrefix(oi.Key, prefix), "/")
		if !ok || name != "state.json" || !blob.ValidUploadID(id) {
			continue
		}
		if oi.LastModified.Before(before) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
