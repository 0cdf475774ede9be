package store

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/wharfhq/wharf/internal/core"
)

func reportOf(t *testing.T, vulns ...core.Vulnerability) []byte {
	t.Helper()
	b, err := json.Marshal(core.SecurityReport{Status: core.ScanScanned, Packages: []core.ScannedPackage{{Name: "p", Vulnerabilities: vulns}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewVulnerabilities(t *testing.T) {
	a := core.Vulnerability{ID: "A", Name: "CVE-A", Severity: "Low", Links: []string{"https://a", "https://b"}}
	aHigh := core.Vulnerability{ID: "A", Name: "CVE-A", Severity: "High", FixedBy: "2"}
	b := core.Vulnerability{ID: "B", Severity: "Critical"}
	c := core.Vulnerability{ID: "C", Name: "C", Severity: ""}
	cases := []struct {
		name        string
		prev, after []byte
		want        string
	}{
		{"first scan", nil, reportOf(t, a, b), "[{B  Critical false} {CVE-A https://a Low false}]"},
		{"nothing new", reportOf(t, a, b), reportOf(t, b, a), "[]"},
		{"one new", reportOf(t, a), reportOf(t, a, b, c), "[{B  Critical false} {C  Unknown false}]"},
		{"most severe finding of an id", nil, reportOf(t, a, aHigh), "[{CVE-A https://a High true}]"},
		{"gone and back is not new", reportOf(t, a, b), reportOf(t, b), "[]"},
	}
	for _, tc := range cases {
		got, err := newVulnerabilities(tc.prev, tc.after)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var parts []string
		for _, v := range got {
			parts = append(parts, fmt.Sprintf("{%s %s %s %v}", v.ID, v.Link, v.Priority, v.HasFix))
		}
		if s := fmt.Sprintf("%v", parts); (len(parts) == 0 && tc.want != "[]") || (len(parts) > 0 && s != tc.want) {
			t.Errorf("%s: %s, want %s", tc.name, s, tc.want)
		}
	}
	if _, err := newVulnerabilities([]byte("{"), reportOf(t, a)); err == nil {
		t.Error("a broken previous report is an error")
	}
}

func TestFormatQuotaBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 bytes", 1023: "1023 bytes", 858993459: "819.20 MB", 1073741824: "1.00 GB", 1127428915: "1.05 GB",
	} {
		if got := formatQuotaBytes(n); got != want {
			t.Errorf("formatQuotaBytes(%d) = %q, want %q", n, got, want)
		}
	}
	if got := thresholdBytes(1073741824, 80); got != 858993459 {
		t.Errorf("thresholdBytes = %d", got)
	}
}
