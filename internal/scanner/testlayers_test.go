package scanner

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// entry is one tar entry of a test layer.
type entry struct {
	name string
	body []byte
	mode int64
	link string // symlink target; makes the entry a symlink
}

// tarLayer packs entries into a tar stream, compressed as asked ("",
// "gzip", "zstd").
func tarLayer(t testing.TB, compression string, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if e.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	switch compression {
	case "gzip":
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(buf.Bytes())
		zw.Close()
		return z.Bytes()
	case "zstd":
		zw, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		return zw.EncodeAll(buf.Bytes(), nil)
	}
	return buf.Bytes()
}

// dirEntries turns a directory of the repository into layer entries under
// prefix.
func dirEntries(t testing.TB, dir, prefix string) []entry {
	t.Helper()
	var out []entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, entry{name: prefix + filepath.ToSlash(rel), body: b})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// dpkgStatus writes a dpkg status file with one installed stanza per row
// of the debootstrap package list (binary, version, source, source
// version), leaving out the packages named in skip.
func dpkgStatus(t testing.TB, skip ...string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/dpkg-bookworm-minbase.tsv")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("bad row %q", line)
		}
		// The list names multi-arch packages as dpkg-query's
		// ${binary:Package} does ("libc6:amd64"); the status file has the
		// bare name and an Architecture field.
		f[0], _, _ = strings.Cut(f[0], ":")
		if contains(skip, f[0]) {
			continue
		}
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
	return []byte(b.String())
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

const bookwormOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`

// debianBase is a Debian 12 base layer as far as the scanner reads it: an
// os-release reached through the etc/os-release link, and the dpkg status.
func debianBase(t testing.TB, compression string) []byte {
	return tarLayer(t, compression,
		entry{name: "etc/"},
		entry{name: "etc/os-release", link: "../usr/lib/os-release"},
		entry{name: "usr/lib/os-release", body: []byte(bookwormOSRelease)},
		entry{name: "var/lib/dpkg/status", body: dpkgStatus(t)},
		entry{name: "usr/bin/true", body: []byte("\x7fELF not go at all"), mode: 0o755},
	)
}
