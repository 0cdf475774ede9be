package vulndb

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func load(t *testing.T, rel string) Advisory {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	as, err := Decode(raw)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if len(as) != 1 {
		t.Fatalf("%s: %d advisories", rel, len(as))
	}
	return as[0]
}

// expected.json says, for every shipped Go and npm record and fixture
// version, whether it matches and with which fixed versions.
func TestExpectedOSVMatches(t *testing.T) {
	raw, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Fixtures map[string]struct {
			Records []struct {
				ID, File, Ecosystem, Package, Installed string
				Match                                   bool
				FixedVersions                           []string `json:"fixed_versions"`
			}
		}
	}
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatal(err)
	}
	n := 0
	for fixture, f := range exp.Fixtures {
		for _, r := range f.Records {
			if r.Ecosystem == "" {
				continue // the Debian section has its own test
			}
			n++
			a := load(t, strings.TrimPrefix(r.File, ""))
			m, ok, err := a.Match(Query{Ecosystem: r.Ecosystem, Name: r.Package, Version: r.Installed})
			if err != nil {
				t.Fatalf("%s %s: %v", fixture, r.ID, err)
			}
			if ok != r.Match {
				t.Errorf("%s: %s on %s %s: match %v, want %v", fixture, r.ID, r.Package, r.Installed, ok, r.Match)
				continue
			}
			if ok && !slices.Contains(r.FixedVersions, m.FixedBy) {
				t.Errorf("%s: %s on %s %s: fixed by %q, want one of %v", fixture, r.ID, r.Package, r.Installed, m.FixedBy, r.FixedVersions)
			}
		}
	}
	if n < 40 {
		t.Fatalf("only %d expectations checked", n)
	}
}

func TestDebianTrackerMatches(t *testing.T) {
	tests := []struct {
		file, source, version string
		match                 bool
		fixed                 string
		severity              Severity
	}{
		{"CVE-2005-2541.json", "tar", "1.34+dfsg-1.2+deb12u1", true, "", SeverityNegligible},
		{"CVE-2011-3374.json", "apt", "2.6.1", true, "", SeverityNegligible},
		{"CVE-2013-4392.json", "systemd", "252.39-1~deb12u2", true, "", SeverityNegligible},
		{"CVE-2016-2781.json", "coreutils", "9.1-1", true, "", SeverityLow}, // [bookworm] <ignored>, urgency low
		{"CVE-2017-18018.json", "coreutils", "9.1-1", true, "", SeverityNegligible},
		{"CVE-2019-1010022.json", "glibc", "2.36-9+deb12u14", true, "", SeverityNegligible},
		{"CVE-2022-0563.json", "util-linux", "2.38.1-5+deb12u3", true, "", SeverityNegligible},
		{"CVE-2022-27943.json", "gcc-12", "12.2.0-14+deb12u1", true, "", SeverityNegligible},
		{"CVE-2023-45853.json", "zlib", "1:1.2.13.dfsg-1", true, "1:1.3.dfsg-2", SeverityUnknown}, // epoch compare
		{"CVE-2023-50495.json", "ncurses", "6.4-4", true, "", SeverityUnknown},                    // [bookworm] <no-dsa>
		{"CVE-2024-2236.json", "libgcrypt20", "1.10.1-3+deb12u1", true, "", SeverityUnknown},
		{"CVE-2023-31484.json", "perl", "5.36.0-7+deb12u3", false, "", ""}, // installed == fixed
		{"CVE-2023-31484.json", "perl", "5.36.0-7+deb12u2", true, "5.36.0-7+deb12u3", SeverityUnknown},
		{"CVE-2023-45853.json", "minizip", "1.0", false, "", ""}, // <removed>
		{"CVE-2005-2541.json", "cpio", "2.13", false, "", ""},    // another package
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.source+"@"+tt.version, func(t *testing.T) {
			a := load(t, "debian-tracker/CVE/"+tt.file)
			if want := "DEBIAN-" + strings.TrimSuffix(tt.file, ".json"); a.ID != want || a.DisplayName() != strings.TrimSuffix(tt.file, ".json") {
				t.Fatalf("id %q name %q", a.ID, a.DisplayName())
			}
			m, ok, err := a.Match(Query{Ecosystem: "Debian:12", Release: "bookworm", Name: tt.source, Version: tt.version})
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.match {
				t.Fatalf("match %v, want %v", ok, tt.match)
			}
			if ok && (m.FixedBy != tt.fixed || m.Severity != tt.severity) {
				t.Fatalf("got %+v, want fixed %q severity %s", m, tt.fixed, tt.severity)
			}
		})
	}
	// CVE-2016-2781 is fixed in unstable: a release without its own line
	// takes the release-less one.
	a := load(t, "debian-tracker/CVE/CVE-2016-2781.json")
	m, ok, _ := a.Match(Query{Ecosystem: "Debian:14", Release: "forky", Name: "coreutils", Version: "9.1-1"})
	if !ok || m.FixedBy != "9.4-1" {
		t.Fatalf("forky: %v %+v", ok, m)
	}
	if _, ok, _ := a.Match(Query{Ecosystem: "Debian:14", Release: "forky", Name: "coreutils", Version: "9.4-1"}); ok {
		t.Fatal("fixed version matched")
	}
}

func TestSeverities(t *testing.T) {
	tests := []struct {
		file  string
		want  Severity
		score float64
	}{
		{"osv/npm/GHSA-35jh-r3h4-6jhm.json", SeverityHigh, 7.2},
		{"osv/npm/GHSA-29mw-wpgm-hmr9.json", SeverityMedium, 5.3},
		{"osv/npm/GHSA-xvch-5gv4-984h.json", SeverityCritical, 9.8},
		{"osv/npm/GHSA-vh95-rmgr-6w4m.json", SeverityMedium, 5.6},
		{"osv/npm/GHSA-9c47-m6qq-7p4h.json", SeverityHigh, 7.1},
		{"osv/go/GO-2020-0015.json", SeverityUnknown, 0},
	}
	for _, tt := range tests {
		a := load(t, tt.file)
		if a.Severity != tt.want {
			t.Errorf("%s: severity %s, want %s", tt.file, a.Severity, tt.want)
		}
		if tt.score > 0 && (a.CVSS == nil || a.CVSS.Score != tt.score) {
			t.Errorf("%s: cvss %+v, want score %v", tt.file, a.CVSS, tt.score)
		}
	}
	scores := []struct {
		s    float64
		want Severity
	}{{0, SeverityUnknown}, {0.1, SeverityLow}, {3.9, SeverityLow}, {4, SeverityMedium}, {6.9, SeverityMedium},
		{7, SeverityHigh}, {8.9, SeverityHigh}, {9, SeverityCritical}, {10, SeverityCritical}, {11, SeverityUnknown}}
	for _, s := range scores {
		if got := SeverityFromScore(s.s); got != s.want {
			t.Errorf("score %v: %s, want %s", s.s, got, s.want)
		}
	}
	for _, v := range []struct {
		vector string
		score  float64
	}{
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8},
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3},
	} {
		if got, ok := ScoreVector(v.vector); !ok || got != v.score {
			t.Errorf("%s: %v %v, want %v", v.vector, got, ok, v.score)
		}
	}
	if _, ok := ScoreVector("CVSS:3.1/AV:X"); ok {
		t.Error("bad vector scored")
	}
}

func TestOSVDecode(t *testing.T) {
	a := load(t, "osv/go/GO-2020-0015.json")
	if a.Source != SourceOSV || !a.Modified.IsZero() || a.Published.IsZero() || a.IsWithdrawn() {
		t.Fatalf("%+v", a)
	}
	if a.Links[0] != "https://pkg.go.dev/vuln/GO-2020-0015" || !slices.Contains(a.Links, "https://www.cve.org/CVERecord?id=CVE-2020-14040") {
		t.Fatalf("links %v", a.Links)
	}
	keys := a.Keys()
	if len(keys) != 1 || keys[0] != (PackageKey{"Go", "golang.org/x/text"}) {
		t.Fatalf("keys %v", keys)
	}
	// A withdrawn record matches nothing.
	raw, _ := os.ReadFile("testdata/osv/npm/GHSA-xvch-5gv4-984h.json")
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["withdrawn"] = "2024-07-01T00:00:00Z"
	raw, _ = json.Marshal(m)
	w, err := DecodeOSV(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := w.Match(Query{Ecosystem: "npm", Name: "minimist", Version: "1.2.5"}); ok || !w.IsWithdrawn() {
		t.Fatal("withdrawn record matched")
	}
}

func TestRanges(t *testing.T) {
	adv := func(eco string, r ...Event) Advisory {
		return Advisory{ID: "X", Affected: []Affected{{Ecosystem: eco, Name: "p", Ranges: []Range{{Type: "ECOSYSTEM", Events: r}}}}}
	}
	tests := []struct {
		name, eco, version string
		events             []Event
		match              bool
		fixed              string
	}{
		{"below fix", "npm", "1.2.5", []Event{{Introduced: "0"}, {Fixed: "1.2.6"}}, true, "1.2.6"},
		{"at fix", "npm", "1.2.6", []Event{{Introduced: "0"}, {Fixed: "1.2.6"}}, false, ""},
		{"at introduced", "Go", "v0.50.0", []Event{{Introduced: "0.50.0"}, {Fixed: "0.51.0"}}, true, "0.51.0"},
		{"below introduced", "Go", "v0.49.0", []Event{{Introduced: "0.50.0"}, {Fixed: "0.51.0"}}, false, ""},
		{"second interval", "npm", "2.1.0", []Event{{Introduced: "0"}, {Fixed: "1.0.2"}, {Introduced: "2.0.0"}, {Fixed: "2.2.2"}}, true, "2.2.2"},
		{"between intervals", "npm", "1.5.0", []Event{{Introduced: "0"}, {Fixed: "1.0.2"}, {Introduced: "2.0.0"}, {Fixed: "2.2.2"}}, false, ""},
		{"unsorted events", "npm", "2.1.0", []Event{{Introduced: "2.0.0"}, {Fixed: "2.2.2"}, {Introduced: "0"}, {Fixed: "1.0.2"}}, true, "2.2.2"},
		{"last affected equal", "PyPI", "1.4", []Event{{Introduced: "0"}, {LastAffected: "1.4"}}, true, ""},
		{"last affected above", "PyPI", "1.4.post1", []Event{{Introduced: "0"}, {LastAffected: "1.4"}}, false, ""},
		{"open range", "Debian:12", "2.36-9+deb12u14", []Event{{Introduced: "0"}}, true, ""},
		{"dpkg epoch", "Debian:12", "1:1.2.13.dfsg-1", []Event{{Introduced: "0"}, {Fixed: "1:1.3.dfsg-2"}}, true, "1:1.3.dfsg-2"},
		{"dpkg epoch beats version", "Debian:12", "1:1.0-1", []Event{{Introduced: "0"}, {Fixed: "2.0-1"}}, false, ""},
		{"rpm epoch", "Red Hat", "1:1.68-5.el9", []Event{{Introduced: "0"}, {Fixed: "1:1.68-6.el9"}}, true, "1:1.68-6.el9"},
		{"apk", "Alpine:v3.20", "1.36.1-r28", []Event{{Introduced: "0"}, {Fixed: "1.36.1-r29"}}, true, "1.36.1-r29"},
		{"pep440 pre-release", "PyPI", "2.0.0rc1", []Event{{Introduced: "0"}, {Fixed: "2.0.0"}}, true, "2.0.0"},
		{"go pseudo-version", "Go", "v0.0.0-20200101000000-abcdefabcdef", []Event{{Introduced: "0"}, {Fixed: "0.1.0"}}, true, "0.1.0"},
		{"go prerelease introduced", "Go", "v1.26.5", []Event{{Introduced: "0"}, {Fixed: "1.25.13"}, {Introduced: "1.26.0-0"}, {Fixed: "1.26.6"}}, true, "1.26.6"},
		{"go toolchain fixed", "Go", "go1.26.8", []Event{{Introduced: "0"}, {Fixed: "1.25.13"}, {Introduced: "1.26.0-0"}, {Fixed: "1.26.6"}}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := adv(tt.eco, tt.events...)
			m, ok, err := a.Match(Query{Ecosystem: tt.eco, Name: "p", Version: tt.version})
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.match || m.FixedBy != tt.fixed {
				t.Fatalf("got %v %q, want %v %q", ok, m.FixedBy, tt.match, tt.fixed)
			}
		})
	}
}

func TestNormalizeName(t *testing.T) {
	for _, tt := range [][3]string{
		{"PyPI", "Foo_Bar.baz", "foo-bar-baz"}, {"PyPI", "a--b", "a-b"}, {"npm", "Lodash", "Lodash"},
		{"Go", "golang.org/x/net", "golang.org/x/net"}, {"Debian:12", "Util-Linux", "util-linux"},
	} {
		if got := NormalizeName(tt[0], tt[1]); got != tt[2] {
			t.Errorf("%v: %q", tt, got)
		}
	}
}

func TestCSAF(t *testing.T) {
	tests := []struct {
		file                string
		id                  string
		severity            Severity
		score               float64
		fixed, aff, notAffd int
	}{
		{"CVE-2024-34500.json", "REDHAT-CVE-2024-34500", SeverityMedium, 5.3, 0, 1, 0},
		{"CVE-2023-20862.json", "REDHAT-CVE-2023-20862", SeverityMedium, 6.3, 0, -1, -1},
		{"cve-2023-33201.json", "REDHAT-CVE-2023-33201", SeverityMedium, 5.3, -1, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			a := load(t, "csaf/"+tt.file)
			if a.ID != tt.id || a.Severity != tt.severity || a.CVSS == nil || a.CVSS.Score != tt.score || a.Source != SourceRedHatCSAF {
				t.Fatalf("%s %s %+v", a.ID, a.Severity, a.CVSS)
			}
			var fixed, aff, not int
			for _, e := range a.Affected {
				switch {
				case len(e.Ranges) == 0:
					not++
				case len(e.Ranges[0].Events) == 2:
					fixed++
				default:
					aff++
				}
			}
			check := func(what string, got, want int) {
				if want >= 0 && got != want || want < 0 && got == 0 {
					t.Errorf("%s: %d (want %d)", what, got, want)
				}
			}
			check("fixed", fixed, tt.fixed)
			check("known affected", aff, tt.aff)
			check("not affected", not, tt.notAffd)
		})
	}
	// A fixed RPM from the EAP 7.4 for RHEL 8 stream: the NEVRA's version
	// is the fix for that platform.
	a := load(t, "csaf/cve-2023-33201.json")
	q := Query{Ecosystem: "Red Hat", Release: "cpe:/a:redhat:jboss_enterprise_application_platform:7.4::el8", Name: "eap7-bouncycastle"}
	q.Version = "0:1.76.0-3.redhat_00001.1.el8eap"
	if m, ok, err := a.Match(q); err != nil || !ok || m.FixedBy != "0:1.76.0-4.redhat_00001.1.el8eap" {
		t.Fatalf("older build: %v %+v %v", ok, m, err)
	}
	q.Version = "0:1.76.0-4.redhat_00001.1.el8eap"
	if _, ok, _ := a.Match(q); ok {
		t.Fatal("fixed build matched")
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{`[]`, `{"bookworm": {"major-version": "12"}}`, `"x"`} {
		if _, err := Decode([]byte(in)); !errors.Is(err, ErrNotRecord) {
			t.Errorf("%s: %v", in, err)
		}
	}
	for _, in := range []string{`{`, `{"id": "", "modified": "x"}`, `{"id": "A", "modified": "yesterday"}`} {
		if _, err := Decode([]byte(in)); err == nil || errors.Is(err, ErrNotRecord) {
			t.Errorf("%s: %v", in, err)
		}
	}
	raw, _ := os.ReadFile("testdata/debian-tracker/distributions.json")
	if _, err := Decode(raw); !errors.Is(err, ErrNotRecord) {
		t.Errorf("distributions.json: %v", err)
	}
}

func TestWalk(t *testing.T) {
	dir := t.TempDir()
	zpath := filepath.Join(dir, "all.zip")
	f, err := os.Create(zpath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, name := range []string{"GO-2020-0015.json", "GO-2020-0036.json"} {
		raw, _ := os.ReadFile(filepath.Join("testdata/osv/go", name))
		w, _ := zw.Create(name)
		w.Write(raw)
	}
	w, _ := zw.Create("README.txt")
	w.Write([]byte("not json"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var names []string
	err = Walk(context.Background(), []string{"testdata/osv/npm", zpath, "testdata/debian-tracker/CVE/CVE-2005-2541.json"}, func(name string, raw []byte) error {
		names = append(names, filepath.Base(name))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"GHSA-29mw-wpgm-hmr9.json", "GHSA-35jh-r3h4-6jhm.json", "GHSA-9c47-m6qq-7p4h.json", "GHSA-vh95-rmgr-6w4m.json",
		"GHSA-xvch-5gv4-984h.json", "all.zip:GO-2020-0015.json", "all.zip:GO-2020-0036.json", "CVE-2005-2541.json"}
	if !slices.Equal(names, want) {
		t.Fatalf("%v", names)
	}
	if err := Walk(context.Background(), []string{filepath.Join(dir, "missing")}, func(string, []byte) error { return nil }); err == nil {
		t.Fatal("missing path accepted")
	}
}

// FuzzDecode: untrusted record files must never panic the importer, and
// whatever decodes must be matchable.
func FuzzDecode(f *testing.F) {
	for _, p := range []string{"osv/go/GO-2026-5026.json", "osv/npm/GHSA-9c47-m6qq-7p4h.json", "debian-tracker/CVE/CVE-2016-2781.json", "csaf/CVE-2024-34500.json"} {
		raw, err := os.ReadFile(filepath.Join("testdata", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"id":"X","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"x"},{"fixed":"1..2"}]}]}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		as, err := Decode(raw)
		if err != nil {
			return
		}
		for _, a := range as {
			for _, af := range a.Affected {
				for _, v := range []string{"0", "1.0.0", "1:2.3-4", "v0.3.0", "garbage~~"} {
					_, _, _ = a.Match(Query{Ecosystem: af.Ecosystem, Release: af.Release, Name: af.Name, Version: v})
				}
			}
			if _, err := a.Encode(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
