// Package blobtest is the conformance suite every blob.Store driver must pass.
// Drivers call Run from their own tests with a constructor for a fresh store.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
)

// Run runs the whole suite. newStore returns an empty store for one subtest.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"UploadCommitOpen", testUploadCommitOpen},
		{"ChunkedAppend", testChunkedAppend},
		{"AppendWrongOffset", testAppendWrongOffset},
		{"CommitWrongDigestKeepsSession", testCommitWrongDigest},
		{"SHA512", testSHA512},
		{"CommitExisting", testCommitExisting},
		{"CancelUpload", testCancel},
		{"UnknownUploadAndBlob", testUnknown},
		{"InvalidUploadIDs", testInvalidIDs},
		{"Limit", testLimit},
		{"Delete", testDelete},
		{"ConcurrentSameContent", testConcurrent},
		{"EmptyBlob", testEmpty},
		{"Seek", testSeek},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

var idSeq struct {
	sync.Mutex
	n int
}

func newID() string {
	idSeq.Lock()
	defer idSeq.Unlock()
	idSeq.n++
	return fmt.Sprintf("blobtest-%016x", idSeq.n)
}

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func upload(t *testing.T, s blob.Store, data []byte, d digest.Digest) blob.Info {
	t.Helper()
	ctx := context.Background()
	id := newID()
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatalf("StartUpload: %v", err)
	}
	if _, err := s.Append(ctx, id, 0, bytes.NewReader(data), 0); err != nil {
		t.Fatalf("Append: %v", err)
	}
	info, err := s.Commit(ctx, id, d)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return info
}

func readAll(t *testing.T, s blob.Store, d digest.Digest) []byte {
	t.Helper()
	r, info, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatalf("Open(%s): %v", d, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != info.Size {
		t.Fatalf("Open reported size %d, read %d bytes", info.Size, len(b))
	}
	return b
}

func testUploadCommitOpen(t *testing.T, s blob.Store) {
	data := randBytes(t, 300_000)
	d := digest.FromBytes(data)
	info := upload(t, s, data, d)
	if info.Digest != d || info.Size != int64(len(data)) {
		t.Fatalf("Commit = %+v, want %s/%d", info, d, len(data))
	}
	st, err := s.Stat(context.Background(), d)
	if err != nil || st.Size != int64(len(data)) {
		t.Fatalf("Stat = %+v, %v", st, err)
	}
	if got := readAll(t, s, d); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

func testChunkedAppend(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := randBytes(t, 1<<20+17)
	id := newID()
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	var off int64
	for off < int64(len(data)) {
		end := min(off+100_003, int64(len(data)))
		n, err := s.Append(ctx, id, off, bytes.NewReader(data[off:end]), 0)
		if err != nil {
			t.Fatalf("Append at %d: %v", off, err)
		}
		if n != end {
			t.Fatalf("Append returned %d, want %d", n, end)
		}
		size, err := s.UploadSize(ctx, id)
		if err != nil || size != end {
			t.Fatalf("UploadSize = %d, %v; want %d", size, err, end)
		}
		off = end
	}
	d := digest.FromBytes(data)
	if _, err := s.Commit(ctx, id, d); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, s, d), data) {
		t.Fatal("content differs")
	}
	if _, err := s.UploadSize(ctx, id); !core.IsCode(err, core.CodeBlobUploadUnknown) {
		t.Fatalf("session still there after commit: %v", err)
	}
}

func testAppendWrongOffset(t *testing.T, s blob.Store) {
	ctx := context.Background()
	id := newID()
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, id, 0, strings.NewReader("hello"), 0); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, 3, 6, 100} {
		n, err := s.Append(ctx, id, off, strings.NewReader("x"), 0)
		if !core.IsCode(err, core.CodeRangeInvalid) {
			t.Fatalf("Append at %d: err = %v, want RangeInvalid", off, err)
		}
		if n != 5 {
			t.Fatalf("Append at %d reported size %d, want 5", off, n)
		}
	}
	if size, _ := s.UploadSize(ctx, id); size != 5 {
		t.Fatalf("size after refused appends = %d", size)
	}
}

func testCommitWrongDigest(t *testing.T, s blob.Store) {
	ctx := context.Background()
	id := newID()
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, id, 0, strings.NewReader("hello"), 0); err != nil {
		t.Fatal(err)
	}
	wrong := digest.FromString("other")
	if _, err := s.Commit(ctx, id, wrong); !core.IsCode(err, core.CodeDigestInvalid) {
		t.Fatalf("Commit with wrong digest: %v", err)
	}
	if _, err := s.Stat(ctx, wrong); !core.IsCode(err, core.CodeBlobUnknown) {
		t.Fatalf("blob stored under wrong digest: %v", err)
	}
	if _, err := s.Commit(ctx, id, digest.FromString("hello")); err != nil {
		t.Fatalf("Commit with right digest after a wrong one: %v", err)
	}
}

func testSHA512(t *testing.T, s blob.Store) {
	data := randBytes(t, 70_000)
	d := digest.SHA512.FromBytes(data)
	upload(t, s, data, d)
	if !bytes.Equal(readAll(t, s, d), data) {
		t.Fatal("content differs")
	}
	// The same bytes under sha256 are a different blob.
	if _, err := s.Stat(context.Background(), digest.FromBytes(data)); !core.IsCode(err, core.CodeBlobUnknown) {
		t.Fatalf("sha256 blob exists unexpectedly: %v", err)
	}
}

func testCommitExisting(t *testing.T, s blob.Store) {
	data := []byte("same content twice")
	d := digest.FromBytes(data)
	upload(t, s, data, d)
	upload(t, s, data, d)
	if !bytes.Equal(readAll(t, s, d), data) {
		t.Fatal("content differs")
	}
}

func testCancel(t *testing.T, s blob.Store) {
	ctx := context.Background()
	id := newID()
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, id, 0, strings.NewReader("abc"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.CancelUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UploadSize(ctx, id); !core.IsCode(err, core.CodeBlobUploadUnknown) {
		t.Fatalf("UploadSize after cancel: %v", err)
	}
	if err := s.CancelUpload(ctx, id); err != nil {
		t.Fatalf("second cancel: %v", err)
	}
}

func testUnknown(t *testing.T, s blob.Store) {
	ctx := context.Background()
	id := newID()
	if _, err := s.UploadSize(ctx, id); !core.IsCode(err, core.CodeBlobUploadUnknown) {
		t.Fatalf("UploadSize: %v", err)
	}
	if _, err := s.Append(ctx, id, 0, strings.NewReader("x"), 0); !core.IsCode(err, core.CodeBlobUploadUnknown) {
		t.Fatalf("Append: %v", err)
	}
	if _, err := s.Commit(ctx, id, digest.FromString("x")); !core.IsCode(err, core.CodeBlobUploadUnknown) {
		t.Fatalf("Commit: %v", err)
	}
	d := digest.FromString("nothing")
	if _, err := s.Stat(ctx, d); !core.IsCode(err, core.CodeBlobUnknown) {
		t.Fatalf("Stat: %v", err)
	}
	if _, _, err := s.Open(ctx, d); !core.IsCode(err, core.CodeBlobUnknown) {
		t.Fatalf("Open: %v", err)
	}
}

func testInvalidIDs(t *testing.T, s blob.Store) {
	ctx := context.Background()
	for _, id := range []string{"", "../../etc/passwd", "short", strings.Repeat("a", 65), "UPPERCASEUPPERCASEUPPER", "with/slash/inside/it-x"} {
		if err := s.StartUpload(ctx, id); err == nil {
			t.Errorf("StartUpload(%q) accepted", id)
		}
		if _, err := s.UploadSize(ctx, id); !core.IsCode(err, core.CodeBlobUploadUnknown) {
			t.Errorf("UploadSize(%q): %v", id, err)
		}
	}
}

func testLimit(t *testing.T, s blob.Store) {
	ctx := context.Background()
	id := newID()
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, id, 0, bytes.NewReader(make([]byte, 10)), 16); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, id, 10, bytes.NewReader(make([]byte, 10)), 16); !core.IsCode(err, core.CodeSizeInvalid) {
		t.Fatalf("Append past limit: %v", err)
	}
	if size, _ := s.UploadSize(ctx, id); size != 10 {
		t.Fatalf("size after refused append = %d, want 10", size)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := []byte("to delete")
	d := digest.FromBytes(data)
	upload(t, s, data, d)
	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, d); !core.IsCode(err, core.CodeBlobUnknown) {
		t.Fatalf("Stat after delete: %v", err)
	}
	if err := s.Delete(ctx, d); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}

func testConcurrent(t *testing.T, s blob.Store) {
	data := randBytes(t, 200_000)
	d := digest.FromBytes(data)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			id := newID()
			if err := s.StartUpload(ctx, id); err != nil {
				errs <- err
				return
			}
			if _, err := s.Append(ctx, id, 0, bytes.NewReader(data), 0); err != nil {
				errs <- err
				return
			}
			if _, err := s.Commit(ctx, id, d); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, s, d), data) {
		t.Fatal("content differs")
	}
}

func testEmpty(t *testing.T, s blob.Store) {
	ctx := context.Background()
	d := digest.FromBytes(nil)
	id := newID()
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	info, err := s.Commit(ctx, id, d)
	if err != nil || info.Size != 0 {
		t.Fatalf("Commit empty = %+v, %v", info, err)
	}
	if got := readAll(t, s, d); len(got) != 0 {
		t.Fatalf("empty blob read %d bytes", len(got))
	}
}

func testSeek(t *testing.T, s blob.Store) {
	data := randBytes(t, 10_000)
	d := digest.FromBytes(data)
	upload(t, s, data, d)
	r, _, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Seek(9_000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(b, data[9_000:]) {
		t.Fatalf("read after seek: %d bytes, %v", len(b), err)
	}
}
