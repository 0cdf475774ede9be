package scanner

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/vulndb"
)

func TestClassifyEntry(t *testing.T) {
	tests := []struct {
		name string
		path string
		kind entryKind
	}{
		{"usr/bin/x", "usr/bin/x", entryFile},
		{"./usr/bin/x", "usr/bin/x", entryFile},
		{"/etc/os-release", "etc/os-release", entryFile},
		{"etc//./os-release", "etc/os-release", entryFile},
		{"etc/", "etc", entryFile},
		{"./", "", entryInvalid},
		{"", "", entryInvalid},
		{"../etc/passwd", "", entryInvalid},
		{"a/../../b", "", entryInvalid},
		{"app/node_modules/.wh.minimist", "app/node_modules/minimist", entryWhiteout},
		{"./.wh.tmp", "tmp", entryWhiteout},
		{"app/.wh..wh..opq", "app", entryOpaque},
		{".wh..wh..opq", "", entryOpaque},
		{"a/.wh.", "", entryInvalid},
		{"a/b\x00c", "", entryInvalid},
	}
	for _, tt := range tests {
		p, k := classifyEntry(tt.name)
		if p != tt.path || k != tt.kind {
			t.Errorf("%q: %q %v, want %q %v", tt.name, p, k, tt.path, tt.kind)
		}
	}
	hidesTests := []struct {
		w      string
		opaque bool
		p      string
		want   bool
	}{
		{"app/node_modules/minimist", false, "app/node_modules/minimist/package.json", true},
		{"app/node_modules/minimist", false, "app/node_modules/minimist2/package.json", false},
		{"usr/bin/app", false, "usr/bin/app", true},
		{"app", true, "app/package.json", true},
		{"app", true, "app", false},
		{"", true, "var/lib/dpkg/status", true},
	}
	for _, tt := range hidesTests {
		if got := hides(tt.w, tt.opaque, tt.p); got != tt.want {
			t.Errorf("hides(%q, %v, %q) = %v", tt.w, tt.opaque, tt.p, got)
		}
	}
}

// FuzzClassifyEntry: tar entry names come from pushed layers. Whatever the
// name, the path is clean, relative and never climbs out of the root.
func FuzzClassifyEntry(f *testing.F) {
	for _, s := range []string{"usr/bin/x", "./a/.wh.b", "a/.wh..wh..opq", "../x", "/", "a/./../b", ".wh.", "//x//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, k := classifyEntry(name)
		if k == entryInvalid {
			return
		}
		if p == "" && k != entryOpaque {
			t.Fatalf("%q: empty path for kind %v", name, k)
		}
		if strings.HasPrefix(p, "/") || path.Clean("/"+p) != "/"+p && p != "" {
			t.Fatalf("%q: unclean path %q", name, p)
		}
		for _, part := range strings.Split(p, "/") {
			if part == ".." {
				t.Fatalf("%q: path %q climbs", name, p)
			}
		}
	})
}

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		in   string
		want Distro
	}{
		{bookwormOSRelease, Distro{ID: "debian", VersionID: "12", Codename: "bookworm", Name: "Debian GNU/Linux", PrettyName: "Debian GNU/Linux 12 (bookworm)"}},
		{"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\n", Distro{ID: "alpine", VersionID: "3.20.3", Name: "Alpine Linux"}},
		{"ID=ubuntu\nVERSION_ID=\"22.04\"\nUBUNTU_CODENAME=jammy\n", Distro{ID: "ubuntu", VersionID: "22.04", Codename: "jammy"}},
		{"ID=debian\nVERSION=\"10 (buster)\"\nVERSION_ID=\"10\"\n", Distro{ID: "debian", VersionID: "10", Codename: "buster"}},
		{"# comment\n\nID='rhel'\nVERSION_ID=\"9.4\"\nCPE_NAME=\"cpe:/o:redhat:enterprise_linux:9::baseos\"\nbroken line\n", Distro{ID: "rhel", VersionID: "9.4", CPE: "cpe:/o:redhat:enterprise_linux:9::baseos"}},
		{"PRETTY_NAME=\"a \\\"quoted\\\" \\$name\"\n", Distro{PrettyName: "a \"quoted\" $name"}},
	}
	for _, tt := range tests {
		if got := parseOSRelease([]byte(tt.in)); got != tt.want {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}

// FuzzParseOSRelease: os-release comes from pushed layers.
func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte(bookwormOSRelease))
	f.Add([]byte("ID=\"\nVERSION=\"(\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := parseOSRelease(b)
		for _, v := range []string{d.ID, d.VersionID, d.Codename} {
			if strings.ContainsAny(v, "\n") {
				t.Fatalf("value with a newline: %q", v)
			}
		}
	})
}

func index(t *testing.T, ix *Indexer, layer []byte) LayerIndex {
	t.Helper()
	idx, err := ix.Index(context.Background(), bytes.NewReader(layer))
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

type pkgView struct{ typ, name, version, layer string }

func view(img Image, names map[digest.Digest]string) []pkgView {
	var out []pkgView
	for _, p := range img.Packages {
		out = append(out, pkgView{p.Type, p.Name, p.Version, names[p.AddedBy]})
	}
	return out
}

// The layers of an image overlay each other: a rewritten dpkg status
// replaces the base's, a whiteout deletes a package directory, an opaque
// directory hides everything below it; the distribution comes from the
// os-release reached through a link.
func TestIndexAndCompose(t *testing.T) {
	ix, err := NewIndexer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, compression := range []string{"", "gzip", "zstd"} {
		t.Run("compression="+compression, func(t *testing.T) {
			base := index(t, ix, debianBase(t, compression))
			if len(base.Packages) != 88 {
				t.Fatalf("base: %d packages", len(base.Packages))
			}
			// Executables are claimed too (they might be Go binaries): a
			// higher layer's file at the same path replaces them.
			if !slices.Equal(base.Files, []string{"etc/os-release", "usr/bin/true", "usr/lib/os-release", "var/lib/dpkg/status"}) {
				t.Fatalf("base files %v", base.Files)
			}
			npm := index(t, ix, tarLayer(t, compression, dirEntries(t, "testdata/npm-vulnerable", "app/")...))
			// The third layer removes perl-base from the dpkg database,
			// deletes minimist and empties the old json5 directory.
			top := index(t, ix, tarLayer(t, compression,
				entry{name: "var/lib/dpkg/status", body: dpkgStatus(t, "perl-base")},
				entry{name: "app/node_modules/.wh.minimist"},
				entry{name: "app/node_modules/json5/.wh..wh..opq"},
			))
			if !slices.Equal(top.Whiteouts, []string{"app/node_modules/minimist"}) || !slices.Equal(top.Opaque, []string{"app/node_modules/json5"}) {
				t.Fatalf("whiteouts %v opaque %v", top.Whiteouts, top.Opaque)
			}
			names := map[digest.Digest]string{"sha256:1": "base", "sha256:2": "npm", "sha256:3": "top"}
			img := compose([]indexedLayer{{"sha256:1", base}, {"sha256:2", npm}, {"sha256:3", top}})
			if img.Distro == nil || img.Distro.ID != "debian" || img.Distro.VersionID != "12" || img.Distro.Codename != "bookworm" {
				t.Fatalf("distro %+v", img.Distro)
			}
			got := view(img, names)
			var debs, others []pkgView
			for _, p := range got {
				if p.typ == "deb" {
					debs = append(debs, p)
				} else {
					others = append(others, p)
				}
			}
			if len(debs) != 87 {
				t.Fatalf("%d deb packages, want 87", len(debs))
			}
			for _, p := range debs {
				if p.name == "perl-base" {
					t.Fatal("perl-base survived its removal")
				}
				if p.layer != "base" {
					t.Fatalf("%s added by %s, want the base layer", p.name, p.layer)
				}
			}
			want := []pkgView{{"npm", "lodash", "4.17.20", "npm"}, {"npm", "vulnfixture-npm", "1.0.0", "npm"}}
			if !slices.Equal(others, want) {
				t.Fatalf("npm packages %v, want %v", others, want)
			}
			// Without the top layer, all three npm packages are there.
			img = compose([]indexedLayer{{"sha256:1", base}, {"sha256:2", npm}})
			n := 0
			for _, p := range img.Packages {
				if p.Type == "npm" {
					n++
				}
			}
			if n != 4 {
				t.Fatalf("%d npm packages, want 4", n)
			}
		})
	}
}

// Every Debian expectation of the shipped tracker data holds against the
// debootstrap package list, on the binary packages of each source.
func TestMatchDebian(t *testing.T) {
	ix, err := NewIndexer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img := compose([]indexedLayer{{"sha256:1", index(t, ix, debianBase(t, "gzip"))}})
	byKey := map[vulndb.PackageKey][]*vulndb.Advisory{}
	files, _ := filepath.Glob("../vulndb/testdata/debian-tracker/CVE/*.json")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		as, err := vulndb.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		for i := range as {
			for _, k := range as[i].Keys() {
				byKey[k] = append(byKey[k], &as[i])
			}
		}
	}
	found := map[string][]string{} // CVE -> binary packages
	for _, p := range matchPackages(img, byKey) {
		if p.Namespace != "debian:12" || p.Format != "dpkg" {
			t.Fatalf("%s: namespace %q format %q", p.Name, p.Namespace, p.Format)
		}
		for _, v := range p.Vulnerabilities {
			found[v.Name] = append(found[v.Name], p.Name)
			if v.UpdatedBy != "debian/bookworm" || v.Links[0] != "https://security-tracker.debian.org/tracker/"+v.Name {
				t.Fatalf("%+v", v)
			}
		}
	}
	want := map[string][]string{
		"CVE-2005-2541":    {"tar"},
		"CVE-2011-3374":    {"apt", "libapt-pkg6.0"},
		"CVE-2013-4392":    {"libsystemd0", "libudev1"},
		"CVE-2016-2781":    {"coreutils"},
		"CVE-2017-18018":   {"coreutils"},
		"CVE-2019-1010022": {"libc-bin", "libc6"},
		"CVE-2022-0563":    {"bsdutils", "libblkid1", "libmount1", "libsmartcols1", "libuuid1", "mount", "util-linux", "util-linux-extra"},
		"CVE-2022-27943":   {"gcc-12-base", "libgcc-s1", "libstdc++6"},
		"CVE-2023-45853":   {"zlib1g"},
		"CVE-2023-50495":   {"libtinfo6", "ncurses-base", "ncurses-bin"},
		"CVE-2024-2236":    {"libgcrypt20"},
	}
	if len(found) != len(want) {
		t.Errorf("found %d CVEs, want %d: %v", len(found), len(want), found)
	}
	for cve, pkgs := range want {
		got := found[cve]
		slices.Sort(got)
		if !slices.Equal(got, pkgs) {
			t.Errorf("%s on %v, want %v", cve, got, pkgs)
		}
	}
	if _, ok := found["CVE-2023-31484"]; ok {
		t.Error("CVE-2023-31484 matched perl-base at its fixed version")
	}
}

func TestSourceRPMName(t *testing.T) {
	for in, want := range map[string]string{
		"bash-5.1.8-9.el9.src.rpm": "bash", "python3.11-3.11.7-1.el9.src.rpm": "python3.11",
		"glibc-2.34-100.el9_4.2.src.rpm": "glibc", "": "", "x.src.rpm": "",
	} {
		if got := sourceRPMName(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// Python distributions and Alpine's installed database are read too, and
// mapped to their ecosystems (PyPI; Alpine by release, on the origin
// package).
func TestIndexPythonAndAlpine(t *testing.T) {
	ix, err := NewIndexer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	idx := index(t, ix, tarLayer(t, "gzip",
		entry{name: "etc/os-release", body: []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\n")},
		entry{name: "lib/apk/db/installed", body: []byte("C:Q1abc=\nP:libcrypto3\nV:3.3.2-r0\nA:x86_64\no:openssl\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\no:busybox\n\n")},
		entry{name: "usr/lib/python3.12/site-packages/Jinja2-3.1.2.dist-info/METADATA", body: []byte("Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\n")},
	))
	img := compose([]indexedLayer{{"sha256:1", idx}})
	var got []string
	for _, p := range img.Packages {
		tg := targetFor(p, img.Distro)
		q := tg.queries[0]
		got = append(got, fmt.Sprintf("%s %s %s -> %s %s %s", p.Type, p.Name, p.Version, q.Ecosystem, q.Name, tg.namespace))
	}
	slices.Sort(got)
	want := []string{
		"apk busybox 1.36.1-r29 -> Alpine:v3.20 busybox alpine:v3.20",
		"apk libcrypto3 3.3.2-r0 -> Alpine:v3.20 openssl alpine:v3.20",
		"pypi Jinja2 3.1.2 -> PyPI Jinja2 pypi",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}
