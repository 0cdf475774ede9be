package app

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/config"
)

const (
	scannerFixtures = "../scanner/testdata"
	vulnData        = "../vulndb/testdata"
)

// finding is one row of a security report as the test compares it.
type finding struct {
	pkg, version, vuln, fixedBy, severity string
}

// The scanner end to end: real Go binaries compiled against old module
// versions, real npm package.json files, a dpkg database with the packages of
// a debootstrap bookworm, pushed with go-containerregistry to a running
// wharf; the reports the security API serves carry exactly the advisories
// the shipped data implies, and none for the patched builds. Vulnerability
// data imported after the scan is matched without re-indexing.
func TestScanOnPush(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go programs")
	}
	bins := buildFixtures(t)

	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.SecurityScanner = true
	cfg.AnonymousAccess = false
	a, host := serveApp(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), false, "alice", "mallory")
	alice, mallory := apiToken(t, a, "alice"), apiToken(t, a, "mallory")

	base := tarBytes(t, map[string]tarFile{
		"etc/os-release":      {link: "../usr/lib/os-release"},
		"usr/lib/os-release":  {body: "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n"},
		"var/lib/dpkg/status": {body: dpkgStatusFromList(t)},
	})
	vulnerable := pushImage(t, host, "alice/app:vulnerable", base,
		tarBytes(t, map[string]tarFile{
			"usr/local/bin/vulnfixture":      {body: bins["go-vulnerable"], mode: 0o755},
			"usr/local/bin/vulnfixture-xnet": {body: bins["go-xnet"], mode: 0o755},
		}),
		tarBytes(t, dirFiles(t, filepath.Join(scannerFixtures, "npm-vulnerable"), "app/")))
	fixed := pushImage(t, host, "alice/app:fixed", base,
		tarBytes(t, map[string]tarFile{
			"usr/local/bin/vulnfixture":      {body: bins["go-fixed"], mode: 0o755},
			"usr/local/bin/vulnfixture-xnet": {body: bins["go-xnet-fixed"], mode: 0o755},
		}),
		tarBytes(t, dirFiles(t, filepath.Join(scannerFixtures, "npm-fixed"), "app/")))

	// No data imported yet: scanned, every package listed, nothing found.
	for _, d := range []string{vulnerable, fixed} {
		rep := waitScanned(t, host, alice, "alice/app", d)
		if got := findings(t, rep); len(got) != 0 {
			t.Fatalf("findings before any import: %v", got)
		}
	}

	st, err := a.ImportVulnerabilities(ctx, []string{vulnData})
	if err != nil {
		t.Fatal(err)
	}
	if st.Added != 39 || st.Rescanned != 2 || !st.RescanQueued || st.Skipped != 2 {
		t.Fatalf("import: %+v", st)
	}
	// Importing the same data again changes and rescans nothing.
	if st, err := a.ImportVulnerabilities(ctx, []string{vulnData}); err != nil || st.Unchanged != 39 || st.Rescanned != 0 {
		t.Fatalf("second import: %+v %v", st, err)
	}
	// The rescans are jobs: both reports get their findings.
	for _, d := range []string{vulnerable, fixed} {
		waitFor(t, "the rescan of "+d, func() bool { return len(findings(t, getSecurity(t, host, alice, "alice/app", d, 200))) > 0 })
	}

	rep := getSecurity(t, host, alice, "alice/app", vulnerable, 200)
	checkShape(t, rep, vulnerable)
	got := findings(t, rep)
	want := expectedFindings(t)
	var gotStd []finding
	got = slices.DeleteFunc(got, func(f finding) bool {
		if f.pkg == "stdlib" {
			gotStd = append(gotStd, f)
			return true
		}
		return false
	})
	if !slices.Equal(got, want) {
		t.Errorf("findings differ:\n%s", diffFindings(got, want))
	}
	// The Go toolchain's own advisories depend on the version that built
	// the fixtures: none of the shipped ones affects go1.26.6 or later.
	if toolchainAtLeast(1, 26, 6) && len(gotStd) != 0 {
		t.Errorf("stdlib findings with %s: %v", runtime.Version(), gotStd)
	}

	// The patched build has the Debian findings of the shared base layer
	// and nothing else.
	rep = getSecurity(t, host, alice, "alice/app", fixed, 200)
	for _, f := range findings(t, rep) {
		if !strings.HasPrefix(f.vuln, "CVE-") {
			t.Errorf("patched image: %v", f)
		}
	}

	// Per-tag summary.
	sum := apiGet(t, host, alice, "/api/v1/repository/alice/app/tag/vulnerable/security", 200)
	counts := sum["summary"].(map[string]any)
	if sum["status"] != "scanned" || counts["Critical"] != float64(1) || counts["High"] != float64(2) || counts["Medium"] != float64(1) ||
		counts["Low"] != float64(1) || sum["fixable"] != float64(countFixable(want)) || sum["total"] != float64(len(want)+len(gotStd)) {
		t.Errorf("summary %v (want %d fixable of %d)", sum, countFixable(want), len(want))
	}

	// Read permission on the repository is required.
	getSecurity(t, host, mallory, "alice/app", vulnerable, 403)
	getSecurity(t, host, "", "alice/app", vulnerable, 401)
	getSecurity(t, host, alice, "alice/app", "sha256:"+strings.Repeat("0", 64), 404)
}

// buildFixtures compiles the Go fixture programs (and go-xnet again with the
// fixed x/net) and returns their bytes by name.
func buildFixtures(t *testing.T) map[string][]byte {
	t.Helper()
	type build struct{ name, src, get string }
	builds := []build{
		{"go-vulnerable", "go-vulnerable", ""}, {"go-xnet", "go-xnet", ""},
		{"go-fixed", "go-fixed", ""}, {"go-xnet-fixed", "go-xnet", "golang.org/x/net@v0.56.0"},
	}
	out := map[string][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(builds))
	for _, b := range builds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := t.TempDir()
			for _, f := range []string{"go.mod", "go.sum", "main.go"} {
				raw, err := os.ReadFile(filepath.Join(scannerFixtures, b.src, f))
				if err != nil {
					errs <- err
					return
				}
				if err := os.WriteFile(filepath.Join(dir, f), raw, 0o644); err != nil {
					errs <- err
					return
				}
			}
			env := append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod")
			run := func(args ...string) error {
				cmd := exec.Command("go", args...)
				cmd.Dir, cmd.Env = dir, env
				if out, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("%s: go %s: %v\n%s", b.name, strings.Join(args, " "), err, out)
				}
				return nil
			}
			if b.get != "" {
				if err := run("get", b.get); err != nil {
					errs <- err
					return
				}
			} else {
				env[len(env)-1] = "GOFLAGS=-mod=readonly"
			}
			if err := run("build", "-trimpath", "-o", "fixture", "."); err != nil {
				errs <- err
				return
			}
			raw, err := os.ReadFile(filepath.Join(dir, "fixture"))
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			out[b.name] = raw
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

type tarFile struct {
	body any // string or []byte
	mode int64
	link string
}

func tarBytes(t *testing.T, files map[string]tarFile) []byte {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		f := files[n]
		var body []byte
		switch b := f.body.(type) {
		case string:
			body = []byte(b)
		case []byte:
			body = b
		}
		h := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if f.mode != 0 {
			h.Mode = f.mode
		}
		if f.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.link, 0
			body = nil
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func dirFiles(t *testing.T, dir, prefix string) map[string]tarFile {
	t.Helper()
	out := map[string]tarFile{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[prefix+filepath.ToSlash(rel)] = tarFile{body: b}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dpkgStatusFromList writes a dpkg status file for the debootstrap package
// list (binary, version, source, source version per row).
func dpkgStatusFromList(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(scannerFixtures, "dpkg-bookworm-minbase.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Split(line, "\t")
		pkg, _, _ := strings.Cut(f[0], ":")
		fmt.Fprintf(&b, "Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\n", pkg, f[1])
		if f[2] != pkg || f[3] != f[1] {
			src := f[2]
			if f[3] != f[1] {
				src += " (" + f[3] + ")"
			}
			fmt.Fprintf(&b, "Source: %s\n", src)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// pushImage pushes an image of the given uncompressed layers (gzipped on
// the way) as alice and returns its manifest digest.
func pushImage(t *testing.T, host, ref string, layers ...[]byte) string {
	t.Helper()
	img, d := layeredImage(t, layers...)
	r, err := name.ParseReference(host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "alice-password"}), remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	return d
}

func apiToken(t *testing.T, a *App, user string) string {
	t.Helper()
	u, err := a.db.User(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	tok, prefix, secret := auth.NewSplitToken()
	if _, err := a.db.CreateOAuthToken(context.Background(), 0, u.ID, prefix, auth.HashSecret(secret), strings.Join(auth.AllScopes, " "), time.Time{}); err != nil {
		t.Fatal(err)
	}
	return tok
}

func apiGet(t *testing.T, host, token, path string, want int) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+host+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d: %s", path, resp.StatusCode, want, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	return m
}

func getSecurity(t *testing.T, host, token, repo, d string, want int) map[string]any {
	t.Helper()
	return apiGet(t, host, token, "/api/v1/repository/"+repo+"/manifest/"+d+"/security?vulnerabilities=true", want)
}

func waitScanned(t *testing.T, host, token, repo, d string) map[string]any {
	t.Helper()
	var rep map[string]any
	if !eventually(2*time.Minute, 100*time.Millisecond, func() bool {
		rep = getSecurity(t, host, token, repo, d, 200)
		switch rep["status"] {
		case "scanned":
			return true
		case "queued":
			if rep["data"] != nil {
				t.Fatalf("queued report with data: %v", rep)
			}
		default:
			t.Fatalf("scan of %s: %v", d, rep)
		}
		return false
	}) {
		t.Fatalf("%s not scanned in time", d)
	}
	return rep
}

// findings flattens a Quay security report, sorted.
func findings(t *testing.T, rep map[string]any) []finding {
	t.Helper()
	var out []finding
	layer := rep["data"].(map[string]any)["Layer"].(map[string]any)
	for _, f := range layer["Features"].([]any) {
		f := f.(map[string]any)
		for _, v := range f["Vulnerabilities"].([]any) {
			v := v.(map[string]any)
			out = append(out, finding{f["Name"].(string), f["Version"].(string), v["Name"].(string), v["FixedBy"].(string), v["Severity"].(string)})
		}
	}
	sortFindings(out)
	return out
}

func sortFindings(fs []finding) {
	sort.Slice(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.pkg != b.pkg {
			return a.pkg < b.pkg
		}
		return a.vuln < b.vuln
	})
}

// checkShape asserts Quay's field names and types on one report.
func checkShape(t *testing.T, rep map[string]any, d string) {
	t.Helper()
	layer := rep["data"].(map[string]any)["Layer"].(map[string]any)
	if layer["Name"] != d || layer["ParentName"] != "" || layer["NamespaceName"] != "" || layer["IndexedByVersion"] != float64(4) {
		t.Fatalf("layer %v", layer)
	}
	var sawNPM bool
	for _, f := range layer["Features"].([]any) {
		f := f.(map[string]any)
		for _, k := range []string{"Name", "VersionFormat", "NamespaceName", "AddedBy", "Version", "BaseScores", "CVEIds", "Vulnerabilities"} {
			if _, ok := f[k]; !ok {
				t.Fatalf("feature without %s: %v", k, f)
			}
		}
		if !strings.HasPrefix(f["AddedBy"].(string), "sha256:") {
			t.Fatalf("AddedBy %v", f["AddedBy"])
		}
		for _, v := range f["Vulnerabilities"].([]any) {
			v := v.(map[string]any)
			for _, k := range []string{"Severity", "NamespaceName", "Link", "FixedBy", "Description", "Name", "Metadata"} {
				if _, ok := v[k]; !ok {
					t.Fatalf("vulnerability without %s: %v", k, v)
				}
			}
			md := v["Metadata"].(map[string]any)
			cvss := md["NVD"].(map[string]any)["CVSSv3"].(map[string]any)
			if v["Name"] == "GHSA-xvch-5gv4-984h" {
				sawNPM = true
				if cvss["Vectors"] != "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" || cvss["Score"] != 9.8 ||
					md["UpdatedBy"] != "osv/npm" || !slices.Contains(f["CVEIds"].([]any), any("CVE-2021-44906")) {
					t.Fatalf("GHSA-xvch-5gv4-984h: %v in %v", v, f)
				}
			}
			if v["Name"] == "CVE-2022-0563" && (md["DistroName"] != "Debian GNU/Linux" || md["DistroVersion"] != "12" || v["NamespaceName"] != "debian/bookworm") {
				t.Fatalf("CVE-2022-0563: %v", v)
			}
		}
	}
	if !sawNPM {
		t.Fatal("GHSA-xvch-5gv4-984h not reported")
	}
}

// expectedFindings derives the report rows of the vulnerable image from
// expected.json: the Go and npm records marked as matching (with the first
// fixed version after the installed one) and the Debian CVEs on every
// binary package of their source.
func expectedFindings(t *testing.T) []finding {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(vulnData, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Fixtures map[string]struct {
			Records []struct {
				ID, Package, Installed string
				Match                  bool
				FixedVersions          []string `json:"fixed_versions"`
				BinaryPackages         []string `json:"binary_packages"`
				FixedVersion           *string  `json:"fixed_version"`
				Urgency                *string  `json:"debian_urgency"`
			}
		}
	}
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatal(err)
	}
	npmSeverity := map[string]string{"GHSA-35jh-r3h4-6jhm": "High", "GHSA-29mw-wpgm-hmr9": "Medium",
		"GHSA-xvch-5gv4-984h": "Critical", "GHSA-9c47-m6qq-7p4h": "High"}
	versions := binaryVersions(t)
	var out []finding
	for _, fx := range []string{"go-vulnerable", "go-xnet", "npm-vulnerable", "debian-bookworm-minbase"} {
		for _, r := range exp.Fixtures[fx].Records {
			if !r.Match {
				continue
			}
			switch {
			case strings.HasPrefix(fx, "go-"):
				out = append(out, finding{r.Package, r.Installed, r.ID, r.FixedVersions[0], "Unknown"})
			case strings.HasPrefix(fx, "npm-"):
				out = append(out, finding{r.Package, r.Installed, r.ID, firstFixAbove(r.FixedVersions, r.Installed), npmSeverity[r.ID]})
			default:
				sev := "Unknown"
				if r.Urgency != nil {
					sev = map[string]string{"unimportant": "Negligible", "low": "Low"}[*r.Urgency]
				}
				fix := ""
				if r.FixedVersion != nil {
					fix = *r.FixedVersion
				}
				for _, b := range r.BinaryPackages {
					out = append(out, finding{b, versions[b], r.ID, fix, sev})
				}
			}
		}
	}
	sortFindings(out)
	return out
}

// firstFixAbove picks, of a record's fixed versions, the one of the range
// the installed version is in (the npm records list one range per line).
func firstFixAbove(fixes []string, installed string) string {
	major := strings.SplitN(installed, ".", 2)[0]
	for _, f := range fixes {
		if strings.SplitN(f, ".", 2)[0] == major {
			return f
		}
	}
	return fixes[0]
}

func binaryVersions(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(scannerFixtures, "dpkg-bookworm-minbase.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Split(line, "\t")
		pkg, _, _ := strings.Cut(f[0], ":")
		out[pkg] = f[1]
	}
	return out
}

func countFixable(fs []finding) int {
	n := 0
	for _, f := range fs {
		if f.fixedBy != "" {
			n++
		}
	}
	return n
}

func diffFindings(got, want []finding) string {
	var b strings.Builder
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "  unexpected %v\n", g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "  missing    %v\n", w)
		}
	}
	return b.String()
}

// toolchainAtLeast compares the running Go version (which built the
// fixtures) with major.minor.patch.
func toolchainAtLeast(major, minor, patch int) bool {
	var a, b, c int
	if n, _ := fmt.Sscanf(runtime.Version(), "go%d.%d.%d", &a, &b, &c); n < 2 {
		return false
	}
	return a > major || a == major && (b > minor || b == minor && c >= patch)
}
