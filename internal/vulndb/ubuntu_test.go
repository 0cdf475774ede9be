package vulndb

import "testing"

func TestUbuntuEcosystem(t *testing.T) {
	for _, tc := range []struct {
		in, eco string
		pro     bool
	}{
		{"Ubuntu:22.04:LTS", "Ubuntu:22.04", false},
		{"Ubuntu:24.10", "Ubuntu:24.10", false},
		{"Ubuntu:Pro:18.04:LTS", "Ubuntu:18.04", true},
		{"Ubuntu:Pro:FIPS:20.04:LTS", "Ubuntu:20.04", true},
		{"Ubuntu", "", false},
		{"Debian:12", "", false},
		{"Ubuntu:22.04:odd:shape", "", false},
	} {
		eco, pro := ubuntuEcosystem(tc.in)
		if eco != tc.eco || pro != tc.pro {
			t.Errorf("ubuntuEcosystem(%q) = %q, %v; want %q, %v", tc.in, eco, pro, tc.eco, tc.pro)
		}
	}
}

// An Ubuntu record as OSV publishes them (ecosystems carry ":LTS" and Pro
// variants) matches the packages of an image whose os-release says
// VERSION_ID=22.04, and a Pro-only entry applies where the release has no
// standard entry.
func TestUbuntuOSVRecordMatches(t *testing.T) {
	raw := []byte(`{
  "schema_version": "1.6.3",
  "id": "UBUNTU-CVE-2024-0001",
  "modified": "2024-05-01T00:00:00Z",
  "published": "2024-04-01T00:00:00Z",
  "upstream": ["CVE-2024-0001"],
  "affected": [
    {"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "openssl"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.2-0ubuntu1.15"}]}],
     "ecosystem_specific": {"ubuntu_priority": "medium"}},
    {"package": {"ecosystem": "Ubuntu:Pro:22.04:LTS", "name": "openssl"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.2-0ubuntu1.15+esm1"}]}]},
    {"package": {"ecosystem": "Ubuntu:Pro:18.04:LTS", "name": "openssl"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1.1-1ubuntu2.1~18.04.23+esm4"}]}]}
  ]
}`)
	a, err := DecodeOSV(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Affected) != 2 {
		t.Fatalf("affected entries: %+v (the Pro entry of a release with a standard entry is dropped)", a.Affected)
	}
	for _, tc := range []struct {
		eco, version, fixed string
		hit                 bool
	}{
		{"Ubuntu:22.04", "3.0.2-0ubuntu1.10", "3.0.2-0ubuntu1.15", true},
		{"Ubuntu:22.04", "3.0.2-0ubuntu1.15", "", false},
		{"Ubuntu:18.04", "1.1.1-1ubuntu2.1~18.04.20", "1.1.1-1ubuntu2.1~18.04.23+esm4", true},
		{"Ubuntu:24.04", "3.0.13-0ubuntu3", "", false},
	} {
		m, hit, err := a.Match(Query{Ecosystem: tc.eco, Name: "openssl", Version: tc.version})
		if err != nil {
			t.Fatalf("%s %s: %v", tc.eco, tc.version, err)
		}
		if hit != tc.hit || m.FixedBy != tc.fixed {
			t.Errorf("%s %s: hit=%v fixed=%q; want hit=%v fixed=%q", tc.eco, tc.version, hit, m.FixedBy, tc.hit, tc.fixed)
		}
	}
}
