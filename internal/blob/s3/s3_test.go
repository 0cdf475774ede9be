package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/blob/blobtest"
	"github.com/wharfhq/wharf/internal/blob/s3"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/s3test"
)

const mib = 1 << 20

// env is one versitygw server for a test, with a fresh bucket per store.
type env struct {
	t       *testing.T
	srv     *s3test.Server
	buckets atomic.Int64
}

// startS3 starts versitygw for the test, or skips (fails under
// WHARF_E2E_REQUIRE=1) when it is not installed.
func startS3(t *testing.T) *env {
	t.Helper()
	srv, err := s3test.Start(context.Background())
	if errors.Is(err, s3test.ErrNotInstalled) {
		if os.Getenv("WHARF_E2E_REQUIRE") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("versitygw log:\n%s", srv.Log())
		}
		srv.Stop()
	})
	return &env{t: t, srv: srv}
}

// config returns a configuration for a new, empty bucket.
func (e *env) config(t *testing.T) s3.Config {
	t.Helper()
	name := fmt.Sprintf("bucket-%d", e.buckets.Add(1))
	if err := e.srv.NewBucket(name); err != nil {
		t.Fatal(err)
	}
	return s3.Config{
		Endpoint:  e.srv.Endpoint,
		Region:    "us-east-1",
		Bucket:    name,
		AccessKey: e.srv.AccessKey,
		SecretKey: e.srv.SecretKey,
		PartSize:  5 * mib,
	}
}

func newStore(t *testing.T, cfg s3.Config) *s3.Store {
	t.Helper()
	s, err := s3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// client is a plain S3 client to look at and tamper with the bucket.
func (e *env) client(t *testing.T) *minio.Core {
	t.Helper()
	c, err := minio.NewCore(e.srv.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(e.srv.AccessKey, e.srv.SecretKey, ""),
		Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func readBlob(t *testing.T, s blob.Store, d digest.Digest) []byte {
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
		t.Fatalf("Open reported %d bytes, read %d", info.Size, len(b))
	}
	return b
}

// recorder is an HTTP transport that notes every request as "METHOD path",
// with COPY for server-side copies.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	tr, err := minio.DefaultTransport(false)
	if err != nil {
		t.Fatal(err)
	}
	return &recorder{base: tr}
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	line := req.Method + " " + req.URL.Path
	if req.Header.Get("X-Amz-Copy-Source") != "" {
		line = "COPY " + req.URL.Path
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, line)
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

// take returns the requests since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

func contains(reqs []string, want string) bool {
	for _, r := range reqs {
		if r == want {
			return true
		}
	}
	return false
}

func appendAt(t *testing.T, s blob.Store, id string, off int64, b []byte) int64 {
	t.Helper()
	n, err := s.Append(context.Background(), id, off, bytes.NewReader(b), 0)
	if err != nil {
		t.Fatalf("Append at %d: %v", off, err)
	}
	if n != off+int64(len(b)) {
		t.Fatalf("Append at %d returned %d, want %d", off, n, off+int64(len(b)))
	}
	return n
}

// sessionState reads an upload's state.json as a generic map.
func sessionState(t *testing.T, c *minio.Core, bucket, key string) map[string]any {
	t.Helper()
	rc, _, _, err := c.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var m map[string]any
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func putState(t *testing.T, c *minio.Core, bucket, key string, m map[string]any) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(context.Background(), bucket, key, bytes.NewReader(b), int64(len(b)), "", "", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

// dropHash removes the saved sha256 state, as if it had been lost.
func dropHash(t *testing.T, c *minio.Core, bucket, key string) {
	t.Helper()
	m := sessionState(t, c, bucket, key)
	if _, ok := m["sha256_state"]; !ok {
		t.Fatalf("state has no hash to drop: %v", m)
	}
	delete(m, "sha256_state")
	delete(m, "sha256_size")
	putState(t, c, bucket, key, m)
}

// leftovers lists what is left under the uploads prefix: objects and
// multipart uploads.
func leftovers(t *testing.T, c *minio.Core, bucket, prefix string) []string {
	t.Helper()
	var out []string
	for oi := range c.Client.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		out = append(out, oi.Key)
	}
	res, err := c.ListMultipartUploads(context.Background(), bucket, prefix, "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range res.Uploads {
		out = append(out, "multipart:"+u.Key)
	}
	return out
}

func TestConformance(t *testing.T) {
	t.Parallel()
	e := startS3(t)
	blobtest.Run(t, func(t *testing.T) blob.Store {
		cfg := e.config(t)
		cfg.Prefix = "/datastorage/registry/"
		return newStore(t, cfg)
	})
}

// A chunked upload continues on another replica (a new Store on the same
// bucket), including after the saved hash state was lost, both while the
// session is only a tail and once it has parts.
func TestResumeOnAnotherReplica(t *testing.T) {
	t.Parallel()
	e := startS3(t)
	ctx := context.Background()
	cfg := e.config(t)
	c := e.client(t)
	id := "resume-0123456789abcdef"
	stateKey := "uploads/" + id + "/state.json"
	data := randBytes(t, 17*mib+12345)

	s1 := newStore(t, cfg)
	if err := s1.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	off := appendAt(t, s1, id, 0, data[:3*mib])
	dropHash(t, c, cfg.Bucket, stateKey) // tail only: the next append rehashes it

	s2 := newStore(t, cfg)
	if size, err := s2.UploadSize(ctx, id); err != nil || size != off {
		t.Fatalf("UploadSize on replica 2 = %d, %v; want %d", size, err, off)
	}
	off = appendAt(t, s2, id, off, data[off:9*mib+1])
	if m := sessionState(t, c, cfg.Bucket, stateKey); m["sha256_state"] == nil || len(m["parts"].([]any)) != 1 {
		t.Fatalf("after 9 MiB: want one part and a hash state, got %v", m)
	}
	dropHash(t, c, cfg.Bucket, stateKey) // parts: the hash stays lost until commit reads back

	s3s := newStore(t, cfg)
	off = appendAt(t, s3s, id, off, data[off:])
	if m := sessionState(t, c, cfg.Bucket, stateKey); m["sha256_state"] != nil {
		t.Fatalf("hash state invented from nothing: %v", m)
	}
	if _, err := s1.Append(ctx, id, 3*mib, bytes.NewReader([]byte("stale")), 0); !core.IsCode(err, core.CodeRangeInvalid) {
		t.Fatalf("stale append on replica 1: %v", err)
	}
	// Without a hash state, Commit completes the upload and reads it back;
	// a mismatch keeps the session and saves the hash it computed.
	rec := newRecorder(t)
	cfg4 := cfg
	cfg4.Transport = rec
	s4 := newStore(t, cfg4)
	if _, err := s4.Commit(ctx, id, digest.FromString("wrong")); !core.IsCode(err, core.CodeDigestInvalid) {
		t.Fatalf("Commit with a wrong digest: %v", err)
	}
	if reqs := rec.take(); !contains(reqs, "GET /"+cfg.Bucket+"/uploads/"+id+"/data") {
		t.Fatalf("a commit without hash state did not read the data back: %v", reqs)
	}
	d := digest.FromBytes(data)
	info, err := s4.Commit(ctx, id, d)
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("Commit = %+v, %v", info, err)
	}
	if reqs := rec.take(); contains(reqs, "GET /"+cfg.Bucket+"/uploads/"+id+"/data") {
		t.Fatalf("the hash saved by the failed commit was not used: %v", reqs)
	}
	if !bytes.Equal(readBlob(t, s1, d), data) {
		t.Fatal("content differs")
	}
	if left := leftovers(t, c, cfg.Bucket, "uploads/"); len(left) != 0 {
		t.Fatalf("left after commit: %v", left)
	}
}

// Uneven chunks, below and above the 5 MiB part size, build a multipart
// upload of more than 10 MiB; the saved hash state commits it without a read.
func TestMultipartUnevenChunks(t *testing.T) {
	t.Parallel()
	e := startS3(t)
	ctx := context.Background()
	cfg := e.config(t)
	cfg.Prefix = "reg"
	rec := newRecorder(t)
	cfg.Transport = rec
	c := e.client(t)
	s := newStore(t, cfg)
	data := randBytes(t, 26*mib+777)
	id := "uneven-0123456789abcdef"
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	var off int64
	for i, n := range []int{100_003, 1*mib + 7, 3 * mib, 6*mib + 123, 2*mib - 5, 11*mib + 99} {
		off = appendAt(t, s, id, off, data[off:off+int64(n)])
		if size, err := s.UploadSize(ctx, id); err != nil || size != off {
			t.Fatalf("chunk %d: UploadSize = %d, %v; want %d", i, size, err, off)
		}
	}
	off = appendAt(t, s, id, off, data[off:])
	m := sessionState(t, c, cfg.Bucket, "reg/uploads/"+id+"/state.json")
	parts := m["parts"].([]any)
	if len(parts) < 3 {
		t.Fatalf("want at least 3 parts, got %v", m)
	}
	for _, p := range parts {
		if size := p.(map[string]any)["size"].(float64); size < 5*mib {
			t.Fatalf("part below 5 MiB: %v", p)
		}
	}
	d := digest.FromBytes(data)
	rec.take()
	if _, err := s.Commit(ctx, id, d); err != nil {
		t.Fatal(err)
	}
	reqs := rec.take()
	if contains(reqs, "GET /"+cfg.Bucket+"/reg/uploads/"+id+"/data") {
		t.Fatalf("a sha256 commit with hash state read the data back: %v", reqs)
	}
	if !contains(reqs, "COPY /"+cfg.Bucket+"/reg/blobs/sha256/"+d.Encoded()[:2]+"/"+d.Encoded()) {
		t.Fatalf("no server-side copy to the blob key: %v", reqs)
	}
	got := readBlob(t, s, d)
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	r, _, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Seek(21*mib, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(r); err != nil || !bytes.Equal(rest, data[21*mib:]) {
		t.Fatalf("read after seek: %d bytes, %v", len(rest), err)
	}
	if left := leftovers(t, c, cfg.Bucket, "reg/uploads/"); len(left) != 0 {
		t.Fatalf("left after commit: %v", left)
	}
	if _, err := c.StatObject(ctx, cfg.Bucket, "reg/blobs/sha256/"+d.Encoded()[:2]+"/"+d.Encoded(), minio.StatObjectOptions{}); err != nil {
		t.Fatalf("blob not at its key: %v", err)
	}
}

// sha512 needs a read-back: the session is completed into its data object,
// verified, and kept on a mismatch; it can still grow (the data object is
// copied back in as parts) and commit.
func TestSHA512Multipart(t *testing.T) {
	t.Parallel()
	e := startS3(t)
	ctx := context.Background()
	cfg := e.config(t)
	c := e.client(t)
	s := newStore(t, cfg)
	data := randBytes(t, 16*mib+3)
	id := "sha512-0123456789abcdef"
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	off := appendAt(t, s, id, 0, data[:8*mib])
	d512 := digest.SHA512.FromBytes(data)
	if _, err := s.Commit(ctx, id, d512); !core.IsCode(err, core.CodeDigestInvalid) {
		t.Fatalf("Commit of 8 MiB as the 16 MiB digest: %v", err)
	}
	if size, err := s.UploadSize(ctx, id); err != nil || size != off {
		t.Fatalf("session after a failed commit: %d, %v", size, err)
	}
	if _, err := s.Stat(ctx, d512); !core.IsCode(err, core.CodeBlobUnknown) {
		t.Fatalf("blob stored under a wrong digest: %v", err)
	}
	off = appendAt(t, s, id, off, data[off:off+1*mib]) // tail beside the completed data
	if _, err := s.Commit(ctx, id, d512); !core.IsCode(err, core.CodeDigestInvalid) {
		t.Fatalf("second wrong commit: %v", err)
	}
	rec := newRecorder(t)
	cfg2 := cfg
	cfg2.Transport = rec
	appendAt(t, newStore(t, cfg2), id, off, data[off:]) // parts after the completed data
	if reqs := rec.take(); !contains(reqs, "COPY /"+cfg.Bucket+"/uploads/"+id+"/data") {
		t.Fatalf("completed data not copied into the new multipart upload: %v", reqs)
	}
	info, err := s.Commit(ctx, id, d512)
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("Commit sha512 = %+v, %v", info, err)
	}
	if !bytes.Equal(readBlob(t, s, d512), data) {
		t.Fatal("content differs")
	}
	if left := leftovers(t, c, cfg.Bucket, "uploads/"); len(left) != 0 {
		t.Fatalf("left after commit: %v", left)
	}
	if _, err := s.Stat(ctx, digest.FromBytes(data)); !core.IsCode(err, core.CodeBlobUnknown) {
		t.Fatalf("sha256 blob exists unexpectedly: %v", err)
	}
}

// A Commit that completed the multipart upload and crashed before saving the
// state is finished by the next Commit.
func TestCommitAfterCrashBetweenCompleteAndState(t *testing.T) {
	t.Parallel()
	e := startS3(t)
	ctx := context.Background()
	cfg := e.config(t)
	c := e.client(t)
	s := newStore(t, cfg)
	data := randBytes(t, 7*mib+5)
	id := "crashed-0123456789abcdef"
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	appendAt(t, s, id, 0, data)
	m := sessionState(t, c, cfg.Bucket, "uploads/"+id+"/state.json")
	key := "uploads/" + id + "/data"
	uid := m["multipart_upload_id"].(string)
	var parts []minio.CompletePart
	for _, p := range m["parts"].([]any) {
		pm := p.(map[string]any)
		parts = append(parts, minio.CompletePart{PartNumber: int(pm["number"].(float64)), ETag: pm["etag"].(string)})
	}
	tail := data[len(data)-int(m["tail_size"].(float64)):]
	p, err := c.PutObjectPart(ctx, cfg.Bucket, key, uid, len(parts)+1, bytes.NewReader(tail), int64(len(tail)), minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parts = append(parts, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag})
	if _, err := c.CompleteMultipartUpload(ctx, cfg.Bucket, key, uid, parts, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(data)
	rec := newRecorder(t)
	cfg2 := cfg
	cfg2.Transport = rec
	if _, err := newStore(t, cfg2).Commit(ctx, id, d); err != nil {
		t.Fatalf("Commit after the crash: %v", err)
	}
	if reqs := rec.take(); contains(reqs, "POST /"+cfg.Bucket+"/"+key) || !contains(reqs, "HEAD /"+cfg.Bucket+"/"+key) {
		t.Fatalf("the completed data was not adopted: %v", reqs)
	}
	if !bytes.Equal(readBlob(t, s, d), data) {
		t.Fatal("content differs")
	}
}

// A multipart upload aborted behind the store's back (a bucket lifecycle
// rule) makes the session unknown rather than committing something else.
func TestMultipartLost(t *testing.T) {
	t.Parallel()
	e := startS3(t)
	ctx := context.Background()
	cfg := e.config(t)
	c := e.client(t)
	s := newStore(t, cfg)
	data := randBytes(t, 6*mib)
	id := "lost-0123456789abcdef"
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	off := appendAt(t, s, id, 0, data)
	m := sessionState(t, c, cfg.Bucket, "uploads/"+id+"/state.json")
	if err := c.AbortMultipartUpload(ctx, cfg.Bucket, "uploads/"+id+"/data", m["multipart_upload_id"].(string)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, id, off, bytes.NewReader(randBytes(t, 5*mib)), 0); !core.IsCode(err, core.CodeBlobUploadUnknown) {
		t.Fatalf("Append to a lost multipart upload: %v", err)
	}
	if _, err := s.Commit(ctx, id, digest.FromBytes(data)); !core.IsCode(err, core.CodeBlobUploadUnknown) {
		t.Fatalf("Commit of a lost multipart upload: %v", err)
	}
	if _, err := s.Stat(ctx, digest.FromBytes(data)); !core.IsCode(err, core.CodeBlobUnknown) {
		t.Fatalf("blob stored from a lost upload: %v", err)
	}
	if err := s.CancelUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, c, cfg.Bucket, "uploads/"); len(left) != 0 {
		t.Fatalf("left after cancel: %v", left)
	}
}

// brokenReader returns its bytes, then io.ErrUnexpectedEOF, as net/http
// does for a chunked body cut short by a client that went away.
type brokenReader struct{ r io.Reader }

func (b *brokenReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// What arrived before a broken body is kept, across a part boundary, and the
// client resumes from the reported offset.
func TestBrokenBodyKeepsWhatArrived(t *testing.T) {
	t.Parallel()
	e := startS3(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := e.config(t)
	s := newStore(t, cfg)
	data := randBytes(t, 9*mib)
	id := "broken-0123456789abcdef"
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	n, err := s.Append(ctx, id, 0, &brokenReader{bytes.NewReader(data[:7*mib])}, 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) || n != 7*mib {
		t.Fatalf("Append of a broken body = %d, %v", n, err)
	}
	appendAt(t, s, id, n, data[n:])
	d := digest.FromBytes(data)
	if _, err := s.Commit(ctx, id, d); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readBlob(t, s, d), data) {
		t.Fatal("content differs")
	}
}

// A limit crossed after parts were uploaded refuses the whole append and
// leaves no stray multipart upload; cancel removes everything.
func TestLimitAcrossPartsAndCancel(t *testing.T) {
	t.Parallel()
	e := startS3(t)
	ctx := context.Background()
	cfg := e.config(t)
	c := e.client(t)
	s := newStore(t, cfg)
	id := "limit-0123456789abcdef"
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	appendAt(t, s, id, 0, randBytes(t, 6*mib)) // one part and a tail
	if _, err := s.Append(ctx, id, 6*mib, bytes.NewReader(randBytes(t, 12*mib)), 15*mib); !core.IsCode(err, core.CodeSizeInvalid) {
		t.Fatalf("Append past the limit: %v", err)
	}
	if size, _ := s.UploadSize(ctx, id); size != 6*mib {
		t.Fatalf("size after a refused append = %d", size)
	}
	res, err := c.ListMultipartUploads(ctx, cfg.Bucket, "uploads/", "", "", "", 100)
	if err != nil || len(res.Uploads) != 1 {
		t.Fatalf("multipart uploads = %+v, %v; want just the session's", res.Uploads, err)
	}
	if err := s.CancelUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, c, cfg.Bucket, "uploads/"); len(left) != 0 {
		t.Fatalf("left after cancel: %v", left)
	}
}

func TestUploadLister(t *testing.T) {
	t.Parallel()
	e := startS3(t)
	ctx := context.Background()
	s := newStore(t, e.config(t))
	id := "listed-0123456789abcdef"
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	appendAt(t, s, id, 0, []byte("some bytes"))
	ids, err := s.Uploads(ctx, time.Now().Add(time.Hour))
	if err != nil || len(ids) != 1 || ids[0] != id {
		t.Fatalf("Uploads(later) = %v, %v", ids, err)
	}
	if ids, err := s.Uploads(ctx, time.Now().Add(-time.Hour)); err != nil || len(ids) != 0 {
		t.Fatalf("Uploads(earlier) = %v, %v", ids, err)
	}
	if err := s.CancelUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ids, err := s.Uploads(ctx, time.Now().Add(time.Hour)); err != nil || len(ids) != 0 {
		t.Fatalf("Uploads after cancel = %v, %v", ids, err)
	}
}

// RedirectURL is a presigned GET that a plain HTTP client downloads.
func TestRedirectURL(t *testing.T) {
	t.Parallel()
	e := startS3(t)
	ctx := context.Background()
	cfg := e.config(t)
	if u, err := newStore(t, cfg).RedirectURL(ctx, digest.FromString("x")); err != nil || u != "" {
		t.Fatalf("RedirectURL with redirects off = %q, %v", u, err)
	}
	cfg.RedirectTTL = time.Minute
	s := newStore(t, cfg)
	data := randBytes(t, 100_000)
	d := digest.FromBytes(data)
	id := "redirect-0123456789abcdef"
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	appendAt(t, s, id, 0, data)
	if _, err := s.Commit(ctx, id, d); err != nil {
		t.Fatal(err)
	}
	u, err := s.RedirectURL(ctx, d)
	if err != nil || !strings.HasPrefix(u, "http://"+e.srv.Endpoint+"/") {
		t.Fatalf("RedirectURL = %q, %v", u, err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("GET presigned URL: %s, %d bytes, %v", resp.Status, len(got), err)
	}
}

// Path-style and the client's automatic choice both reach the bucket; the
// endpoint may be given as a URL.
func TestAddressing(t *testing.T) {
	t.Parallel()
	e := startS3(t)
	for _, tc := range []struct {
		name string
		edit func(*s3.Config)
	}{
		{"PathStyle", func(c *s3.Config) { c.PathStyle = true }},
		{"Auto", func(c *s3.Config) {}},
		{"EndpointURL", func(c *s3.Config) { c.PathStyle = true; c.Endpoint = "http://" + c.Endpoint + "/" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := e.config(t)
			tc.edit(&cfg)
			s := newStore(t, cfg)
			data := randBytes(t, 6*mib)
			d := digest.FromBytes(data)
			id := "address-0123456789abcdef"
			if err := s.StartUpload(ctx, id); err != nil {
				t.Fatal(err)
			}
			appendAt(t, s, id, 0, data)
			if _, err := s.Commit(ctx, id, d); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readBlob(t, s, d), data) {
				t.Fatal("content differs")
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, cfg := range []s3.Config{
		{},
		{Bucket: "b", Endpoint: "ftp://host"},
		{Bucket: "b", Endpoint: "http://host/path"},
		{Bucket: "b", RedirectTTL: 8 * 24 * time.Hour},
		{Bucket: "b", CACertFile: "/nonexistent/ca.pem"},
	} {
		if _, err := s3.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
