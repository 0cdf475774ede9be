package app

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/internal/config"
)

// A real Debian 12 root filesystem, made with debootstrap (root and
// network to a Debian mirror needed; about a minute), pushed as one layer:
// the report has exactly the eleven tracker CVEs the shipped data implies,
// on every binary package of each source, and not CVE-2023-31484 (perl-base
// is at the fixed version).
func TestScanDebootstrapImage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs debootstrap")
	}
	require := os.Getenv("WHARF_E2E_REQUIRE") == "1"
	skip := func(why string) {
		t.Helper()
		if require {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		skip("debootstrap is not installed")
	}
	if os.Geteuid() != 0 {
		skip("debootstrap needs root")
	}
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	cmd := exec.CommandContext(t.Context(), "debootstrap", "--variant=minbase", "bookworm", rootfs)
	if out, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(out), "mounted with noexec or nodev") {
			// A container without the mknod capability (debootstrap
			// refuses to build there): nothing this machine can run.
			t.Skip("debootstrap cannot create device nodes here (a container without CAP_MKNOD):\n" + lastLines(string(out), 3))
		}
		skip("debootstrap: " + err.Error() + "\n" + lastLines(string(out), 10))
	}
	layer := tarTree(t, rootfs)

	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.SecurityScanner = true
	a, host := serveApp(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), false, "alice")
	if _, err := a.ImportVulnerabilities(ctx, []string{filepath.Join(vulnData, "debian-tracker")}); err != nil {
		t.Fatal(err)
	}
	token := apiToken(t, a, "alice")
	d := pushImage(t, host, "alice/debian:12", layer)
	rep := waitScanned(t, host, token, "alice/debian", d)

	found := map[string][]string{}
	n := 0
	for _, f := range findings(t, rep) {
		found[f.vuln] = append(found[f.vuln], f.pkg)
	}
	for _, f := range rep["data"].(map[string]any)["Layer"].(map[string]any)["Features"].([]any) {
		if f.(map[string]any)["VersionFormat"] == "dpkg" {
			n++
		}
	}
	if n < 80 {
		t.Errorf("%d dpkg packages, want the minbase set (88 when this test was written)", n)
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
	for cve, pkgs := range want {
		if strings.Join(found[cve], ",") != strings.Join(pkgs, ",") {
			t.Errorf("%s on %v, want %v", cve, found[cve], pkgs)
		}
	}
	if len(found) != len(want) {
		t.Errorf("CVEs found: %v", found)
	}
}

// tarTree packs a directory as a layer: regular files, directories,
// symlinks and device nodes, with numeric owners.
func tarTree(t *testing.T, root string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return nil // sockets and the like
		}
		h.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname = "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
