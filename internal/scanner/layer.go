package scanner

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/klauspost/compress/zstd"
)

// IndexerVersion changes whenever indexing would find something different
// in the same layer (new extractors, fixes); stored layer results of another
// version are indexed again.
const IndexerVersion = 1

// Package is an installed package found in a layer.
type Package struct {
	// Type is the package URL type: deb, rpm, apk, golang, npm, pypi, maven.
	Type    string `json:"type"`
	Name    string `json:"name"`
	Version string `json:"version"`
	// SourceName and SourceVersion identify the source package of a
	// distribution package (Debian source, RPM source rpm, Alpine origin);
	// empty when the same as Name and Version.
	SourceName    string `json:"source_name,omitempty"`
	SourceVersion string `json:"source_version,omitempty"`
	// Path is the file the package was read from, relative to the root.
	Path string `json:"path"`
}

// LayerIndex is what one layer contributes to an image's filesystem, as far
// as the scanner cares.
type LayerIndex struct {
	Packages []Package `json:"packages"`
	// Files are the paths of the files the extractors read (and of
	// os-release files and links): they replace a lower layer's file at the
	// same path, even when they hold no package.
	Files []string `json:"files,omitempty"`
	// Whiteouts are paths this layer deletes; Opaque are directories whose
	// lower content it hides ("" is the root).
	Whiteouts []string `json:"whiteouts,omitempty"`
	Opaque    []string `json:"opaque,omitempty"`
	// OSRelease holds the content of etc/os-release and usr/lib/os-release
	// when the layer has them as regular files.
	OSRelease map[string]string `json:"os_release,omitempty"`
}

// os-release locations, in the order os-release(5) says to try them.
var osReleasePaths = []string{"etc/os-release", "usr/lib/os-release"}

// Layer size limits.
const (
	// maxFileSize bounds one file handed to an extractor (a Go binary, a
	// jar, an rpm database); larger files are skipped.
	maxFileSize = 512 << 20
	// maxFiles bounds the number of files kept from one layer.
	maxFiles = 200_000
)

// Index reads one layer blob (a tar stream, optionally gzip or zstd
// compressed) once and returns what it contributes. Files the extractors
// want are copied to a temporary directory, which is removed before Index
// returns.
func (ix *Indexer) Index(ctx context.Context, blob io.Reader) (LayerIndex, error) {
	tr, closeFn, err := openLayer(blob)
	if err != nil {
		return LayerIndex{}, err
	}
	defer closeFn()
	dir, err := os.MkdirTemp(ix.tempDir, "wharf-layer-")
	if err != nil {
		return LayerIndex{}, fmt.Errorf("index layer: %w", err)
	}
	defer os.RemoveAll(dir)

	var out LayerIndex
	collected := map[string]*collectedFile{}
	whiteouts, opaque := map[string]bool{}, map[string]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return LayerIndex{}, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return LayerIndex{}, fmt.Errorf("index layer: read tar: %w", err)
		}
		p, kind := classifyEntry(hdr.Name)
		switch kind {
		case entryInvalid:
			continue
		case entryWhiteout:
			whiteouts[p] = true
			continue
		case entryOpaque:
			opaque[p] = true
			continue
		}
		// A later entry for the same path replaces an earlier one.
		delete(collected, p)
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
		case tar.TypeSymlink, tar.TypeLink:
			if slices.Contains(osReleasePaths, p) {
				collected[p] = &collectedFile{path: p}
			}
			continue
		default:
			continue
		}
		if len(collected) >= maxFiles {
			continue
		}
		f, err := ix.collect(dir, p, hdr, tr)
		if err != nil {
			return LayerIndex{}, err
		}
		if f != nil {
			collected[p] = f
		}
	}
	for p := range whiteouts {
		out.Whiteouts = append(out.Whiteouts, p)
	}
	for p := range opaque {
		out.Opaque = append(out.Opaque, p)
	}
	slices.Sort(out.Whiteouts)
	slices.Sort(out.Opaque)
	paths := make([]string, 0, len(collected))
	for p := range collected {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	out.Files = paths
	for _, p := range paths {
		f := collected[p]
		if slices.Contains(osReleasePaths, p) && f.size >= 0 && f.stored {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
			if err != nil {
				return LayerIndex{}, fmt.Errorf("index layer: %w", err)
			}
			if out.OSRelease == nil {
				out.OSRelease = map[string]string{}
			}
			out.OSRelease[p] = string(b)
		}
	}
	pkgs, err := ix.extract(ctx, dir, paths, collected)
	if err != nil {
		return LayerIndex{}, err
	}
	out.Packages = pkgs
	return out, nil
}

// collectedFile is a file of the layer kept for the extractors.
type collectedFile struct {
	path   string
	info   fs.FileInfo
	size   int64
	stored bool     // content written under the temp directory
	wanted []string // names of the extractors that want it
}

// collect decides whether a regular file is wanted and, if so, copies it
// under dir. Executables wanted only as possible Go binaries are kept only
// when they carry Go build information.
func (ix *Indexer) collect(dir, p string, hdr *tar.Header, r io.Reader) (*collectedFile, error) {
	info := hdr.FileInfo()
	api := fileAPI{path: p, info: info}
	var wanted []string
	for _, e := range ix.extractors {
		if e.FileRequired(api) {
			wanted = append(wanted, e.Name())
		}
	}
	isOSRelease := slices.Contains(osReleasePaths, p)
	if len(wanted) == 0 && !isOSRelease {
		return nil, nil
	}
	f := &collectedFile{path: p, info: info, size: hdr.Size, wanted: wanted}
	if hdr.Size > maxFileSize || (isOSRelease && hdr.Size > maxOSRelease) {
		// Too large to read: it still replaces lower layers' files.
		f.wanted = nil
		return f, nil
	}
	onlyGo := len(wanted) == 1 && wanted[0] == goBinaryExtractor
	br := bufio.NewReaderSize(r, 64<<10)
	if onlyGo {
		head, _ := br.Peek(4)
		if !isExecutableFormat(head) {
			f.wanted = nil
			return f, nil
		}
	}
	dst := filepath.Join(dir, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		// A file of the layer stands where a directory would go: the
		// layer is odd, the file is not needed.
		f.wanted = nil
		return f, nil
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		f.wanted = nil
		return f, nil
	}
	var scan *magicScanner
	var w io.Writer = out
	if onlyGo {
		scan = &magicScanner{magic: goBuildInfoMagic}
		w = io.MultiWriter(out, scan)
	}
	_, err = io.Copy(w, br)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("index layer: copy %s: %w", p, err)
	}
	if scan != nil && !scan.found {
		os.Remove(dst)
		f.wanted = nil
		return f, nil
	}
	f.stored = true
	return f, nil
}

// openLayer recognises gzip and zstd by their magic numbers; anything else
// is read as an uncompressed tar.
func openLayer(r io.Reader) (*tar.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("index layer: gzip: %w", err)
		}
		return tar.NewReader(zr), func() { zr.Close() }, nil
	case bytes.Equal(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, nil, fmt.Errorf("index layer: zstd: %w", err)
		}
		return tar.NewReader(zr), zr.Close, nil
	}
	return tar.NewReader(br), func() {}, nil
}

// isExecutableFormat reports ELF, Mach-O and PE magic numbers.
func isExecutableFormat(h []byte) bool {
	if len(h) < 4 {
		return false
	}
	switch {
	case bytes.Equal(h, []byte{0x7f, 'E', 'L', 'F'}):
		return true
	case h[0] == 'M' && h[1] == 'Z':
		return true
	}
	switch [4]byte(h) {
	case [4]byte{0xfe, 0xed, 0xfa, 0xce}, [4]byte{0xfe, 0xed, 0xfa, 0xcf},
		[4]byte{0xce, 0xfa, 0xed, 0xfe}, [4]byte{0xcf, 0xfa, 0xed, 0xfe}:
		return true
	}
	return false
}

// goBuildInfoMagic starts the build information section of Go binaries.
var goBuildInfoMagic = []byte("\xff Go buildinf:")

// magicScanner is an io.Writer that notices whether the bytes written
// contain magic, across write boundaries.
type magicScanner struct {
	magic []byte
	tail  []byte
	found bool
}

func (m *magicScanner) Write(p []byte) (int, error) {
	if m.found {
		return len(p), nil
	}
	buf := append(m.tail, p...)
	if bytes.Contains(buf, m.magic) {
		m.found = true
		m.tail = nil
		return len(p), nil
	}
	keep := len(m.magic) - 1
	if len(buf) > keep {
		buf = buf[len(buf)-keep:]
	}
	m.tail = append(m.tail[:0], buf...)
	return len(p), nil
}
