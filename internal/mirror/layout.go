package mirror

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

// Annotations of the layout's index.json entries.
const (
	// AnnotationRefName is the OCI reference name: "namespace/repo:tag".
	AnnotationRefName = "org.opencontainers.image.ref.name"
	// AnnotationRepository names the repository of an entry that has no
	// tag (a referrer such as a signature).
	AnnotationRepository = "io.wharf.repository"
)

// layoutIndex is the layout's index.json.
type layoutIndex struct {
	SchemaVersion int              `json:"schemaVersion"`
	MediaType     string           `json:"mediaType"`
	Manifests     []oci.Descriptor `json:"manifests"`
}

const ociLayoutFile = `{"imageLayoutVersion":"1.0.0"}`

// sink receives an OCI image layout being written.
type sink interface {
	has(d digest.Digest) bool
	// put writes blob d of size bytes from r, verifying the digest.
	put(d digest.Digest, size int64, r io.Reader) error
	// finish writes index.json and oci-layout and closes the sink.
	finish(index []byte) error
	// abort removes what was written.
	abort()
}

// newSink writes a layout into a directory, or a tar of it when the path
// ends in .tar.
func newSink(p string) (sink, error) {
	if strings.HasSuffix(p, ".tar") {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		return &tarSink{f: f, bw: bw, tw: tar.NewWriter(bw), seen: map[digest.Digest]bool{}, now: time.Now()}, nil
	}
	if err := os.MkdirAll(p, 0o750); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if len(entries) > 0 {
		return nil, fmt.Errorf("export: %s is not empty", p)
	}
	return &dirSink{root: p}, nil
}

func blobPath(d digest.Digest) string {
	return path.Join("blobs", string(d.Algorithm()), d.Encoded())
}

// verifyingCopy copies r to w and checks that it is size bytes of digest d.
func verifyingCopy(w io.Writer, r io.Reader, d digest.Digest, size int64) error {
	v := d.Verifier()
	n, err := io.Copy(io.MultiWriter(w, v), r)
	if err != nil {
		return err
	}
	if size >= 0 && n != size {
		return core.Errorf(core.CodeSizeInvalid, "blob %s has %d bytes, expected %d", d, n, size)
	}
	if !v.Verified() {
		return core.Errorf(core.CodeDigestInvalid, "blob content does not match %s", d)
	}
	return nil
}

type dirSink struct {
	root string
}

func (s *dirSink) has(d digest.Digest) bool {
	_, err := os.Stat(filepath.Join(s.root, filepath.FromSlash(blobPath(d))))
	return err == nil
}

func (s *dirSink) put(d digest.Digest, size int64, r io.Reader) error {
	dst := filepath.Join(s.root, filepath.FromSlash(blobPath(d)))
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return err
	}
	if err := verifyingCopy(f, r, d, size); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), dst)
}

func (s *dirSink) finish(index []byte) error {
	if err := os.WriteFile(filepath.Join(s.root, "oci-layout"), []byte(ociLayoutFile), 0o640); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.root, "index.json"), index, 0o640)
}

func (s *dirSink) abort() {}

type tarSink struct {
	f    *os.File
	bw   *bufio.Writer
	tw   *tar.Writer
	seen map[digest.Digest]bool
	dirs map[string]bool
	now  time.Time
}

func (s *tarSink) has(d digest.Digest) bool { return s.seen[d] }

func (s *tarSink) header(name string, size int64) *tar.Header {
	return &tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: s.now, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
}

func (s *tarSink) dir(name string) error {
	if s.dirs == nil {
		s.dirs = map[string]bool{}
	}
	if s.dirs[name] {
		return nil
	}
	s.dirs[name] = true
	return s.tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o755, ModTime: s.now, Typeflag: tar.TypeDir, Format: tar.FormatPAX})
}

func (s *tarSink) put(d digest.Digest, size int64, r io.Reader) error {
	if size < 0 {
		return errors.New("export: blob size unknown")
	}
	if err := s.dir("blobs"); err != nil {
		return err
	}
	if err := s.dir("blobs/" + string(d.Algorithm())); err != nil {
		return err
	}
	if err := s.tw.WriteHeader(s.header(blobPath(d), size)); err != nil {
		return err
	}
	// A digest mismatch here leaves a broken archive; export fails.
	if err := verifyingCopy(s.tw, r, d, size); err != nil {
		return err
	}
	s.seen[d] = true
	return nil
}

func (s *tarSink) file(name string, b []byte) error {
	if err := s.tw.WriteHeader(s.header(name, int64(len(b)))); err != nil {
		return err
	}
	_, err := s.tw.Write(b)
	return err
}

func (s *tarSink) finish(index []byte) error {
	if err := s.file("oci-layout", []byte(ociLayoutFile)); err != nil {
		return err
	}
	if err := s.file("index.json", index); err != nil {
		return err
	}
	if err := s.tw.Close(); err != nil {
		return err
	}
	if err := s.bw.Flush(); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	return s.f.Close()
}

func (s *tarSink) abort() {
	s.f.Close()
	os.Remove(s.f.Name())
}

// maxIndexSize bounds index.json and oci-layout.
const maxIndexSize = 64 << 20

// extractTar unpacks a layout tarball into dir: only oci-layout,
// index.json and blobs/<alg>/<hex> regular files; anything else (links,
// paths outside, devices) is refused.
func extractTar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return core.Wrap(core.CodeInvalid, err, "reading the layout archive")
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return core.Errorf(core.CodeInvalid, "layout archive: %q is not a regular file", shorten(h.Name))
		}
		if err := checkLayoutPath(name); err != nil {
			return err
		}
		if (name == "index.json" || name == "oci-layout") && h.Size > maxIndexSize {
			return core.Errorf(core.CodeInvalid, "layout archive: %s is too large", name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return err
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return core.Wrap(core.CodeInvalid, err, "reading the layout archive")
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
}

// checkLayoutPath accepts the file names of an OCI image layout.
func checkLayoutPath(name string) error {
	if name == "index.json" || name == "oci-layout" {
		return nil
	}
	parts := strings.Split(name, "/")
	if len(parts) == 3 && parts[0] == "blobs" {
		if _, err := oci.ParseDigest(parts[1] + ":" + parts[2]); err == nil {
			return nil
		}
	}
	return core.Errorf(core.CodeInvalid, "layout archive: unexpected file %q", shorten(name))
}

// ParseRefName splits an index.json reference name "namespace/repo:tag"
// (or "namespace/repo" with a separate repository annotation).
func ParseRefName(s string) (repo, tag string, err error) {
	i := strings.LastIndex(s, ":")
	if i > strings.LastIndex(s, "/") && i >= 0 {
		repo, tag = s[:i], s[i+1:]
	} else {
		repo = s
	}
	if err := oci.ValidateName(repo); err != nil || !strings.Contains(repo, "/") {
		return "", "", core.Errorf(core.CodeInvalid, "reference name %q: invalid repository (namespace/name)", shorten(s))
	}
	if tag != "" {
		if err := oci.ValidateTag(tag); err != nil {
			return "", "", core.Errorf(core.CodeInvalid, "reference name %q: invalid tag", shorten(s))
		}
	}
	return repo, tag, nil
}

// decodeIndex reads a layout's index.json.
func decodeIndex(b []byte) (layoutIndex, error) {
	var idx layoutIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, core.Wrap(core.CodeInvalid, err, "index.json is not an OCI index")
	}
	if idx.SchemaVersion != 2 {
		return idx, core.Errorf(core.CodeInvalid, "index.json: schemaVersion %d, want 2", idx.SchemaVersion)
	}
	for _, m := range idx.Manifests {
		if err := m.Digest.Validate(); err != nil {
			return idx, core.Errorf(core.CodeInvalid, "index.json: invalid digest %q", shorten(string(m.Digest)))
		}
	}
	return idx, nil
}
