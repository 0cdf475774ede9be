package s3

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
)

const (
	// minPartSize is S3's smallest part but the last one.
	minPartSize = 5 << 20
	// DefaultPartSize is the part size when Config.PartSize is 0.
	DefaultPartSize = 16 << 20
	// maxParts is S3's limit on the parts of one multipart upload.
	maxParts = 10000
	// maxCopyPart is S3's largest part or object a single copy may produce.
	maxCopyPart = 5 << 30
	// maxRedirectTTL is the longest validity S3 allows for a presigned URL.
	maxRedirectTTL = 7 * 24 * time.Hour
	// blobContentType is stored with every blob (served as-is on redirects).
	blobContentType = "application/octet-stream"
)

// Config configures a Store.
type Config struct {
	// Endpoint is the S3 server as host[:port], or as a URL
	// (http://host:port or https://host:port, which also sets Secure).
	// Empty means Amazon S3 (s3.amazonaws.com over https).
	Endpoint string
	// Secure uses https.
	Secure bool
	// Region is the bucket's region; empty lets the client ask the server.
	Region string
	// Bucket must exist.
	Bucket string
	// Prefix is the key prefix of everything the store writes (Quay's
	// storage_path); leading and trailing slashes are ignored.
	Prefix string
	// AccessKey and SecretKey are static credentials; both empty means
	// anonymous requests.
	AccessKey string
	SecretKey string
	// PathStyle forces path-style requests (http://host/bucket/key). When
	// false the client picks: virtual-host style (http://bucket.host/key)
	// for Amazon S3 and other providers known to support it, path-style
	// otherwise.
	PathStyle bool
	// CACertFile is a PEM bundle of certificate authorities trusted for https
	// in addition to the system's.
	CACertFile string
	// RedirectTTL, if > 0, enables RedirectURL: presigned GET URLs valid for
	// this long (at most 7 days).
	RedirectTTL time.Duration
	// PartSize is the size of the multipart upload parts an upload is cut
	// into, and of the buffer each running Append holds. 0 means
	// DefaultPartSize; values below 5 MiB are raised to 5 MiB. A session
	// holds at most 10,000 parts.
	PartSize int64
	// Transport replaces the HTTP transport (tests, proxies). CACertFile is
	// ignored when it is set.
	Transport http.RoundTripper
}

// Store is a blob.Store on an S3 bucket.
type Store struct {
	core        *minio.Core
	bucket      string
	prefix      string // "" or ending in "/"
	partSize    int64
	redirectTTL time.Duration
	bufs        sync.Pool // *[]byte of cap partSize
}

var (
	_ blob.Store        = (*Store)(nil)
	_ blob.UploadLister = (*Store)(nil)
)

// New returns a store for cfg. It does no I/O against the server; the first
// request shows whether the bucket is reachable.
func New(cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3 blob store: bucket is required")
	}
	endpoint, secure, err := parseEndpoint(cfg.Endpoint, cfg.Secure)
	if err != nil {
		return nil, err
	}
	if cfg.RedirectTTL > maxRedirectTTL {
		return nil, fmt.Errorf("s3 blob store: redirect TTL %s exceeds the S3 maximum of %s", cfg.RedirectTTL, maxRedirectTTL)
	}
	opts := &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       secure,
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupAuto,
		Transport:    cfg.Transport,
	}
	if cfg.PathStyle {
		opts.BucketLookup = minio.BucketLookupPath
	}
	if opts.Transport == nil && cfg.CACertFile != "" {
		tr, err := transportWithCA(secure, cfg.CACertFile)
		if err != nil {
			return nil, err
		}
		opts.Transport = tr
	}
	c, err := minio.NewCore(endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("s3 blob store: %w", err)
	}
	s := &Store{
		core:        c,
		bucket:      cfg.Bucket,
		prefix:      normalizePrefix(cfg.Prefix),
		partSize:    cfg.PartSize,
		redirectTTL: cfg.RedirectTTL,
	}
	if s.partSize == 0 {
		s.partSize = DefaultPartSize
	}
	s.partSize = max(s.partSize, minPartSize)
	s.bufs.New = func() any { b := make([]byte, 0, s.partSize); return &b }
	return s, nil
}

// parseEndpoint accepts host[:port] or an http(s) URL without a path.
func parseEndpoint(ep string, secure bool) (string, bool, error) {
	if ep == "" {
		return "s3.amazonaws.com", true, nil
	}
	if !strings.Contains(ep, "://") {
		return strings.TrimSuffix(ep, "/"), secure, nil
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", false, fmt.Errorf("s3 blob store: endpoint: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", false, fmt.Errorf("s3 blob store: endpoint %q: want host:port or http(s)://host:port", ep)
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		return "", false, fmt.Errorf("s3 blob store: endpoint %q must not have a path", ep)
	}
	return u.Host, u.Scheme == "https", nil
}

func normalizePrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

func transportWithCA(secure bool, file string) (http.RoundTripper, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("s3 blob store: CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("s3 blob store: CA bundle %s holds no PEM certificate", file)
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("s3 blob store: %w", err)
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr.TLSClientConfig.RootCAs = pool
	return tr, nil
}

// Keys.

func (s *Store) blobKey(d digest.Digest) string {
	enc := d.Encoded()
	return s.prefix + "blobs/" + string(d.Algorithm()) + "/" + enc[:2] + "/" + enc
}

func (s *Store) uploadsPrefix() string { return s.prefix + "uploads/" }

func (s *Store) sessionPrefix(id string) string { return s.uploadsPrefix() + id + "/" }

func (s *Store) stateKey(id string) string { return s.sessionPrefix(id) + "state.json" }

func (s *Store) dataKey(id string) string { return s.sessionPrefix(id) + "data" }

func (s *Store) tailKey(id, name string) string { return s.sessionPrefix(id) + name }

func newTailName() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "tail-" + hex.EncodeToString(b)
}

func validTailName(n string) bool {
	h, ok := strings.CutPrefix(n, "tail-")
	if !ok || len(h) != 24 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// Errors.

func errorCode(err error) string {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er.Code
	}
	return ""
}

func isNotFound(err error) bool {
	switch errorCode(err) {
	case minio.NoSuchKey, "NotFound":
		return true
	}
	return false
}

func isNoSuchUpload(err error) bool { return errorCode(err) == minio.NoSuchUpload }

// exists reports whether key is present.
func (s *Store) exists(ctx context.Context, key string) (bool, error) {
	_, err := s.core.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", key, err)
	}
	return true, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, d digest.Digest) (blob.Info, error) {
	if d.Validate() != nil {
		return blob.Info{}, blob.ErrBlobUnknown(d)
	}
	oi, err := s.core.StatObject(ctx, s.bucket, s.blobKey(d), minio.StatObjectOptions{})
	if isNotFound(err) {
		return blob.Info{}, blob.ErrBlobUnknown(d)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat blob: %w", err)
	}
	return blob.Info{Digest: d, Size: oi.Size}, nil
}

// Open implements blob.Store. The reader fetches lazily and seeks with ranged
// GETs; it is bound to ctx.
func (s *Store) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, blob.Info, error) {
	if d.Validate() != nil {
		return nil, blob.Info{}, blob.ErrBlobUnknown(d)
	}
	obj, err := s.core.Client.GetObject(ctx, s.bucket, s.blobKey(d), minio.GetObjectOptions{})
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("open blob: %w", err)
	}
	oi, err := obj.Stat()
	if isNotFound(err) {
		obj.Close()
		return nil, blob.Info{}, blob.ErrBlobUnknown(d)
	}
	if err != nil {
		obj.Close()
		return nil, blob.Info{}, fmt.Errorf("open blob: %w", err)
	}
	return obj, blob.Info{Digest: d, Size: oi.Size}, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	if d.Validate() != nil {
		return nil
	}
	err := s.core.RemoveObject(ctx, s.bucket, s.blobKey(d), minio.RemoveObjectOptions{})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete blob: %w", err)
	}
	return nil
}

// RedirectURL returns a presigned GET URL for the blob, valid for
// Config.RedirectTTL, or "" when redirects are disabled (serve the bytes
// instead). It does not check that the blob exists.
func (s *Store) RedirectURL(ctx context.Context, d digest.Digest) (string, error) {
	if s.redirectTTL <= 0 {
		return "", nil
	}
	if d.Validate() != nil {
		return "", blob.ErrBlobUnknown(d)
	}
	u, err := s.core.PresignedGetObject(ctx, s.bucket, s.blobKey(d), s.redirectTTL, nil)
	if err != nil {
		return "", fmt.Errorf("presign blob: %w", err)
	}
	return u.String(), nil
}
