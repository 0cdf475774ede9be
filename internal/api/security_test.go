package api

import (
	"context"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// fakeReports serves fixed reports by digest.
type fakeReports map[digest.Digest]core.SecurityReport

func (f fakeReports) Report(_ context.Context, d digest.Digest) (core.SecurityReport, error) {
	if r, ok := f[d]; ok {
		return r, nil
	}
	return core.SecurityReport{Manifest: d, Status: core.ScanQueued}, nil
}

func withSecurity(s SecurityReports) envOption {
	return func(_ *auth.AccessPolicy, _ *auth.Policy, o *Options) { o.Security = s }
}

func putTestManifest(t *testing.T, db *store.DB, repo, tag, body string) digest.Digest {
	t.Helper()
	d := digest.FromString(body)
	if err := db.PutManifest(context.Background(), store.PutManifest{Repository: repo, Digest: d,
		MediaType: "application/vnd.oci.image.manifest.v1+json", Content: []byte(body), Tags: []string{tag}}); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSecurityEndpoints(t *testing.T) {
	reports := fakeReports{}
	e := newTestEnv(t, withSecurity(reports))
	alice, bob := e.user("alice", false), e.user("bob", false)
	e.repo("alice/app", "private", alice)
	scanned := putTestManifest(t, e.db, "alice/app", "v1", `{"schemaVersion":2,"n":1}`)
	queued := putTestManifest(t, e.db, "alice/app", "v2", `{"schemaVersion":2,"n":2}`)
	layer := digest.FromString("layer")
	reports[scanned] = core.SecurityReport{Manifest: scanned, Status: core.ScanScanned, DistroName: "Debian GNU/Linux", DistroVersion: "12",
		Packages: []core.ScannedPackage{
			{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Format: "dpkg", Namespace: "debian:12", AddedBy: layer, Vulnerabilities: []core.Vulnerability{
				{ID: "DEBIAN-CVE-2023-45853", Name: "CVE-2023-45853", Severity: "Unknown", FixedBy: "1:1.3.dfsg-2", UpdatedBy: "debian/bookworm",
					Links: []string{"https://security-tracker.debian.org/tracker/CVE-2023-45853"}, Description: "MiniZip"},
			}},
			{Name: "minimist", Version: "1.2.5", Format: "npm", Namespace: "npm", AddedBy: layer, Vulnerabilities: []core.Vulnerability{
				{ID: "GHSA-xvch-5gv4-984h", Name: "GHSA-xvch-5gv4-984h", Severity: "Critical", FixedBy: "1.2.6", UpdatedBy: "osv/npm",
					CVSSVector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", CVSSScore: 9.8, Aliases: []string{"CVE-2021-44906"},
					Links: []string{"https://github.com/advisories/GHSA-xvch-5gv4-984h"}},
				{ID: "X-1", Name: "X-1", Severity: "Low", FixedBy: "0", UpdatedBy: "osv/npm"},
			}},
			{Name: "lodash", Version: "4.18.1", Format: "npm", Namespace: "npm", AddedBy: layer},
		}}

	base := "/api/v1/repository/alice/app/manifest/"
	res := e.do("GET", base+string(queued)+"/security?vulnerabilities=true", alice, nil).expect(200).json()
	if res["status"] != "queued" || res["data"] != nil {
		t.Fatalf("queued: %v", res)
	}
	res = e.do("GET", base+string(scanned)+"/security?vulnerabilities=true", alice, nil).expect(200).json()
	layerJSON := res["data"].(map[string]any)["Layer"].(map[string]any)
	if res["status"] != "scanned" || layerJSON["Name"] != string(scanned) || layerJSON["IndexedByVersion"] != float64(4) {
		t.Fatalf("scanned: %v", res)
	}
	features := layerJSON["Features"].([]any)
	if len(features) != 3 {
		t.Fatalf("features %v", features)
	}
	zlib := features[0].(map[string]any)
	zv := zlib["Vulnerabilities"].([]any)[0].(map[string]any)
	zmd := zv["Metadata"].(map[string]any)
	if zlib["Name"] != "zlib1g" || zlib["AddedBy"] != string(layer) || zv["FixedBy"] != "1:1.3.dfsg-2" || zv["Name"] != "CVE-2023-45853" ||
		zv["NamespaceName"] != "debian/bookworm" || zmd["DistroName"] != "Debian GNU/Linux" || zmd["DistroVersion"] != "12" ||
		zlib["CVEIds"].([]any)[0] != "CVE-2023-45853" {
		t.Fatalf("zlib1g: %v", zlib)
	}
	mini := features[1].(map[string]any)
	mv := mini["Vulnerabilities"].([]any)
	crit, low := mv[0].(map[string]any), mv[1].(map[string]any)
	cvss := crit["Metadata"].(map[string]any)["NVD"].(map[string]any)["CVSSv3"].(map[string]any)
	if crit["Severity"] != "Critical" || cvss["Score"] != 9.8 || cvss["Vectors"] != "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" ||
		crit["Metadata"].(map[string]any)["DistroName"] != nil || mini["BaseScores"].([]any)[0] != 9.8 {
		t.Fatalf("minimist: %v", mini)
	}
	if low["FixedBy"] != "" { // Clair's "0" means no fix
		t.Fatalf("fixed by %q", low["FixedBy"])
	}
	if lodash := features[2].(map[string]any); len(lodash["Vulnerabilities"].([]any)) != 0 || len(lodash["CVEIds"].([]any)) != 0 {
		t.Fatalf("lodash: %v", lodash)
	}

	sum := e.do("GET", "/api/v1/repository/alice/app/tag/v1/security", alice, nil).expect(200).json()
	counts := sum["summary"].(map[string]any)
	if counts["Critical"] != float64(1) || counts["Low"] != float64(1) || counts["Unknown"] != float64(1) || counts["High"] != float64(0) ||
		sum["fixable"] != float64(2) || sum["total"] != float64(3) || sum["manifest_digest"] != string(scanned) {
		t.Fatalf("summary %v", sum)
	}

	e.do("GET", base+string(scanned)+"/security", bob, nil).expect(403)
	e.do("GET", base+string(scanned)+"/security", "", nil).expect(401)
	e.do("GET", base+digest.FromString("other").String()+"/security", alice, nil).expect(404)
	e.do("GET", base+"not-a-digest/security", alice, nil).expect(404)
	e.do("GET", "/api/v1/repository/alice/app/tag/nope/security", alice, nil).expect(404)

	// Without the scanner the endpoints do not exist.
	off := newTestEnv(t)
	tok := off.user("carol", false)
	off.repo("carol/app", "public", tok)
	d := putTestManifest(t, off.db, "carol/app", "v1", `{"schemaVersion":2}`)
	off.do("GET", "/api/v1/repository/carol/app/manifest/"+string(d)+"/security", tok, nil).expect(404)
}
