package fs

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
)

// Store is a blob.Store on a local directory.
type Store struct {
	root string
	bufs sync.Pool // *[]byte copy buffers
}

var _ blob.Store = (*Store)(nil)

// New returns a store rooted at dir, creating it if needed.
func New(dir string) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "uploads")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("blob store: %w", err)
		}
	}
	s := &Store{root: dir}
	s.bufs.New = func() any { b := make([]byte, 1<<20); return &b }
	return s, nil
}

func (s *Store) blobPath(d digest.Digest) string {
	enc := d.Encoded()
	return filepath.Join(s.root, "blobs", string(d.Algorithm()), enc[:2], enc)
}

func (s *Store) uploadDir(id string) string { return filepath.Join(s.root, "uploads", id) }

func validDigest(d digest.Digest) bool { return d.Validate() == nil }

// Stat implements blob.Store.
func (s *Store) Stat(_ context.Context, d digest.Digest) (blob.Info, error) {
	if !validDigest(d) {
		return blob.Info{}, blob.ErrBlobUnknown(d)
	}
	st, err := os.Stat(s.blobPath(d))
	if errors.Is(err, os.ErrNotExist) {
		return blob.Info{}, blob.ErrBlobUnknown(d)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat blob: %w", err)
	}
	return blob.Info{Digest: d, Size: st.Size()}, nil
}

// Open implements blob.Store. The reader is an *os.File, so net/http serves it
// with sendfile.
func (s *Store) Open(_ context.Context, d digest.Digest) (io.ReadSeekCloser, blob.Info, error) {
	if !validDigest(d) {
		return nil, blob.Info{}, blob.ErrBlobUnknown(d)
	}
	f, err := os.Open(s.blobPath(d))
	if errors.Is(err, os.ErrNotExist) {
		return nil, blob.Info{}, blob.ErrBlobUnknown(d)
	}
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("open blob: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, blob.Info{}, fmt.Errorf("stat blob: %w", err)
	}
	return f, blob.Info{Digest: d, Size: st.Size()}, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(_ context.Context, d digest.Digest) error {
	if !validDigest(d) {
		return nil
	}
	if err := os.Remove(s.blobPath(d)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete blob: %w", err)
	}
	return nil
}

// StartUpload implements blob.Store.
func (s *Store) StartUpload(_ context.Context, id string) error {
	if !blob.ValidUploadID(id) {
		return blob.ErrUploadUnknown(id)
	}
	dir := s.uploadDir(id)
	if err := os.Mkdir(dir, 0o750); err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	return f.Close()
}

func (s *Store) openUpload(id string, flag int) (*os.File, error) {
	if !blob.ValidUploadID(id) {
		return nil, blob.ErrUploadUnknown(id)
	}
	f, err := os.OpenFile(filepath.Join(s.uploadDir(id), "data"), flag, 0o640)
	if errors.Is(err, os.ErrNotExist) {
		return nil, blob.ErrUploadUnknown(id)
	}
	if err != nil {
		return nil, fmt.Errorf("open upload: %w", err)
	}
	return f, nil
}

// UploadSize implements blob.Store.
func (s *Store) UploadSize(_ context.Context, id string) (int64, error) {
	f, err := s.openUpload(id, os.O_RDONLY)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat upload: %w", err)
	}
	return st.Size(), nil
}

// hashState is the saved sha256 state of an upload's first Offset bytes, so a
// resumed upload (even after a restart) does not rehash what it already has.
type hashState struct {
	Offset int64  `json:"offset"`
	State  []byte `json:"state"`
}

func (s *Store) loadHash(id string, size int64) hash.Hash {
	h := sha256.New()
	b, err := os.ReadFile(filepath.Join(s.uploadDir(id), "hashstate"))
	if err != nil {
		return nil
	}
	var st hashState
	if json.Unmarshal(b, &st) != nil || st.Offset != size {
		return nil
	}
	if h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.State) != nil {
		return nil
	}
	return h
}

func (s *Store) saveHash(id string, size int64, h hash.Hash) {
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return
	}
	b, _ := json.Marshal(hashState{Offset: size, State: state})
	tmp := filepath.Join(s.uploadDir(id), "hashstate.tmp")
	if os.WriteFile(tmp, b, 0o640) == nil {
		// Not fsync'd: a stale or torn state is detected by its offset or
		// its encoding and the content is rehashed instead.
		_ = os.Rename(tmp, filepath.Join(s.uploadDir(id), "hashstate"))
	}
}

// rehash hashes the first n bytes of f with a fresh hash of algorithm alg.
func rehash(f *os.File, n int64, alg digest.Algorithm) (hash.Hash, error) {
	h := alg.Hash()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, n)); err != nil {
		return nil, fmt.Errorf("rehash upload: %w", err)
	}
	return h, nil
}

// Append implements blob.Store.
func (s *Store) Append(ctx context.Context, id string, offset int64, r io.Reader, limit int64) (int64, error) {
	f, err := s.openUpload(id, os.O_RDWR)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat upload: %w", err)
	}
	size := st.Size()
	if offset != size {
		return size, core.Errorf(core.CodeRangeInvalid, "upload is at offset %d, not %d", size, offset)
	}
	h := s.loadHash(id, size)
	if h == nil {
		if h, err = rehash(f, size, digest.SHA256); err != nil {
			return size, err
		}
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		return size, fmt.Errorf("seek upload: %w", err)
	}
	src := r
	if limit > 0 {
		src = io.LimitReader(r, limit-size+1)
	}
	buf := s.bufs.Get().(*[]byte)
	n, copyErr := io.CopyBuffer(io.MultiWriter(f, h), src, *buf)
	s.bufs.Put(buf)
	newSize := size + n
	if limit > 0 && newSize > limit {
		_ = f.Truncate(size)
		return size, core.Errorf(core.CodeSizeInvalid, "upload exceeds the limit of %d bytes", limit)
	}
	if copyErr != nil {
		// Keep what arrived: the client can query the offset and resume.
		_ = f.Sync()
		return newSize, fmt.Errorf("write upload: %w", copyErr)
	}
	if err := f.Sync(); err != nil {
		return newSize, fmt.Errorf("sync upload: %w", err)
	}
	s.saveHash(id, newSize, h)
	return newSize, nil
}

// Commit implements blob.Store.
func (s *Store) Commit(ctx context.Context, id string, d digest.Digest) (blob.Info, error) {
	if !validDigest(d) {
		return blob.Info{}, core.Errorf(core.CodeDigestInvalid, "invalid digest")
	}
	f, err := s.openUpload(id, os.O_RDONLY)
	if err != nil {
		return blob.Info{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return blob.Info{}, fmt.Errorf("stat upload: %w", err)
	}
	size := st.Size()
	var h hash.Hash
	if d.Algorithm() == digest.SHA256 {
		h = s.loadHash(id, size)
	}
	if h == nil {
		if h, err = rehash(f, size, d.Algorithm()); err != nil {
			f.Close()
			return blob.Info{}, err
		}
	}
	f.Close()
	got := digest.NewDigest(d.Algorithm(), h)
	if got != d {
		return blob.Info{}, core.Errorf(core.CodeDigestInvalid, "content digest %s does not match %s", got, d)
	}
	dst := s.blobPath(d)
	if _, err := os.Stat(dst); err == nil {
		return blob.Info{Digest: d, Size: size}, s.CancelUpload(ctx, id)
	}
	if _, err := os.Stat(filepath.Dir(dst)); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return blob.Info{}, fmt.Errorf("commit blob: %w", err)
		}
		if err := syncDir(filepath.Dir(filepath.Dir(dst))); err != nil {
			return blob.Info{}, fmt.Errorf("commit blob: %w", err)
		}
	}
	// The data was fsync'd by Append; rename is atomic, then make the
	// directory entry durable.
	if err := os.Rename(filepath.Join(s.uploadDir(id), "data"), dst); err != nil {
		return blob.Info{}, fmt.Errorf("commit blob: %w", err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return blob.Info{}, fmt.Errorf("commit blob: %w", err)
	}
	_ = os.RemoveAll(s.uploadDir(id))
	return blob.Info{Digest: d, Size: size}, nil
}

// CancelUpload implements blob.Store.
func (s *Store) CancelUpload(_ context.Context, id string) error {
	if !blob.ValidUploadID(id) {
		return nil
	}
	if err := os.RemoveAll(s.uploadDir(id)); err != nil {
		return fmt.Errorf("cancel upload: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Uploads implements blob.UploadLister.
func (s *Store) Uploads(_ context.Context, before time.Time) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "uploads"))
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if !e.IsDir() || !blob.ValidUploadID(e.Name()) {
			continue
		}
		st, err := os.Stat(filepath.Join(s.root, "uploads", e.Name(), "data"))
		if err != nil {
			st, err = os.Stat(filepath.Join(s.root, "uploads", e.Name()))
			if err != nil {
				continue
			}
		}
		if st.ModTime().Before(before) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}
