// Command scan measures the built-in vulnerability scanner in process: the
// time to index and match one image (its layers read from blob storage),
// the time to scan 1,000 images that share those layers (stored layer
// indexes reused), the rescan of those images after an import of
// vulnerability data, and the peak resident memory (VmHWM). The workload
// is built from the test data in internal/scanner/testdata and
// internal/vulndb/testdata: a Debian 12 base layer with a dpkg status, and
// layers of vulnerable and fixed npm packages.
//
//	go run ./bench/scan [-images 1000] [-root .]
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	blobfs "github.com/wharfhq/wharf/internal/blob/fs"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/scanner"
	"github.com/wharfhq/wharf/internal/store"
)

const (
	gzipLayer = "application/vnd.oci.image.layer.v1.tar+gzip"
	repo      = "bench/app"
)

const bookwormOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
`

func main() {
	images := flag.Int("images", 1000, "images sharing the layers")
	root := flag.String("root", ".", "the module's root directory")
	flag.Parse()
	if err := run(context.Background(), *root, *images); err != nil {
		fmt.Fprintln(os.Stderr, "scan bench:", err)
		os.Exit(1)
	}
}

type file struct {
	name, link string
	body       []byte
}

type env struct {
	db    *store.DB
	blobs *blobfs.Store
}

func run(ctx context.Context, root string, images int) error {
	dir, err := os.MkdirTemp("", "wharf-scan-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := store.OpenSQLite(ctx, filepath.Join(dir, "wharf.db"), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	fsb, err := blobfs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		return err
	}
	e := &env{db: db, blobs: fsb}
	svc, err := scanner.New(db, fsb, slog.New(slog.DiscardHandler), scanner.Options{TempDir: dir})
	if err != nil {
		return err
	}

	status, err := dpkgStatus(filepath.Join(root, "internal/scanner/testdata/dpkg-bookworm-minbase.tsv"))
	if err != nil {
		return err
	}
	var layers []oci.Descriptor
	base, err := layer([]file{{name: "etc/os-release", link: "../usr/lib/os-release"},
		{name: "usr/lib/os-release", body: []byte(bookwormOSRelease)}, {name: "var/lib/dpkg/status", body: status}})
	if err != nil {
		return err
	}
	for _, npm := range []string{"npm-vulnerable", "npm-fixed"} {
		files, err := dirFiles(filepath.Join(root, "internal/scanner/testdata", npm), "app/")
		if err != nil {
			return err
		}
		l, err := layer(files)
		if err != nil {
			return err
		}
		d, err := e.blob(l, gzipLayer)
		if err != nil {
			return err
		}
		layers = append(layers, d)
	}
	baseDesc, err := e.blob(base, gzipLayer)
	if err != nil {
		return err
	}

	// One image, its layers indexed from the blobs.
	first, err := e.manifest(0, baseDesc, layers[0])
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := svc.ScanManifest(ctx, repo, first); err != nil {
		return err
	}
	indexOne := time.Since(start)

	// The other images share the layers: matched from the stored indexes.
	var ds []digest.Digest
	for i := 1; i < images; i++ {
		d, err := e.manifest(i, baseDesc, layers[i%len(layers)])
		if err != nil {
			return err
		}
		ds = append(ds, d)
	}
	start = time.Now()
	for _, d := range ds {
		if _, err := svc.ScanManifest(ctx, repo, d); err != nil {
			return err
		}
	}
	scanMany := time.Since(start)

	start = time.Now()
	st, err := svc.Import(ctx, []string{filepath.Join(root, "internal/vulndb/testdata")})
	if err != nil {
		return err
	}
	importRescan := time.Since(start)
	start = time.Now()
	n, err := svc.RescanAll(ctx)
	if err != nil {
		return err
	}
	rescanAll := time.Since(start)

	fmt.Printf("%-46s %12s\n", "step", "time")
	fmt.Printf("%-46s %12s\n", "index and match 1 image (2 layers read)", indexOne.Round(time.Microsecond))
	fmt.Printf("%-46s %12s\n", fmt.Sprintf("match %d images (stored layer indexes)", len(ds)), scanMany.Round(time.Millisecond))
	fmt.Printf("%-46s %12s\n", fmt.Sprintf("import %d advisories, rescan %d images", st.Added+st.Updated, st.Rescanned), importRescan.Round(time.Millisecond))
	fmt.Printf("%-46s %12s\n", fmt.Sprintf("rescan all %d images", n), rescanAll.Round(time.Millisecond))
	fmt.Printf("%-46s %12s\n", "peak RSS (VmHWM)", vmHWM())
	return nil
}

// blob stores content in the repository and returns its descriptor.
func (e *env) blob(content []byte, mediaType string) (oci.Descriptor, error) {
	ctx := context.Background()
	d := digest.FromBytes(content)
	id := "upload-" + d.Encoded()[:20]
	if err := e.blobs.StartUpload(ctx, id); err != nil {
		return oci.Descriptor{}, err
	}
	if _, err := e.blobs.Append(ctx, id, 0, bytes.NewReader(content), 0); err != nil {
		return oci.Descriptor{}, err
	}
	if _, err := e.blobs.Commit(ctx, id, d); err != nil {
		return oci.Descriptor{}, err
	}
	if err := e.db.CommitBlob(ctx, repo, d, int64(len(content)), ""); err != nil {
		return oci.Descriptor{}, err
	}
	return oci.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(content))}, nil
}

// manifest stores image i (a config of its own, shared layers).
func (e *env) manifest(i int, layers ...oci.Descriptor) (digest.Digest, error) {
	cfg, err := e.blob([]byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"},"config":{"Labels":{"n":"%d"}}}`, i)),
		"application/vnd.oci.image.config.v1+json")
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeOCIManifest, "config": cfg, "layers": layers})
	if err != nil {
		return "", err
	}
	d := digest.FromBytes(body)
	pm := store.PutManifest{Repository: repo, Digest: d, MediaType: oci.MediaTypeOCIManifest, Content: body,
		Blobs: []digest.Digest{cfg.Digest}}
	for _, l := range layers {
		pm.Blobs = append(pm.Blobs, l.Digest)
	}
	return d, e.db.PutManifest(context.Background(), pm)
}

// layer is a gzipped tar of files.
func layer(files []file) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if f.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func dirFiles(dir, prefix string) ([]file, error) {
	var out []file
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, file{name: prefix + filepath.ToSlash(rel), body: b})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, err
}

// dpkgStatus writes a dpkg status file with one installed stanza per row
// of the debootstrap package list (binary, version, source, source
// version).
func dpkgStatus(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("bad row %q", line)
		}
		f[0], _, _ = strings.Cut(f[0], ":")
		b.WriteString("Package: " + f[0] + "\nStatus: install ok installed\nPriority: required\nArchitecture: amd64\n")
		if f[2] != f[0] || f[3] != f[1] {
			src := f[2]
			if f[3] != f[1] {
				src += " (" + f[3] + ")"
			}
			b.WriteString("Source: " + src + "\n")
		}
		b.WriteString("Version: " + f[1] + "\nDescription: " + f[0] + " package\n\n")
	}
	return []byte(b.String()), nil
}

// vmHWM is the process's peak resident set size, from /proc/self/status.
func vmHWM() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "n/a"
}
