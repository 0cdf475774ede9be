package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// scannerTests cover the vulnerability scanner's tables.
var scannerTests = []struct {
	name string
	fn   func(t *testing.T, db *store.DB)
}{
	{"VulnerabilitiesImportIsIdempotent", testVulnImport},
	{"VulnerabilitiesLookup", testVulnLookup},
	{"LayerScanRoundTrip", testLayerScan},
	{"ManifestScanLifecycle", testManifestScan},
}

func vulnRec(id string, modified time.Time, hash string, keys ...store.VulnKey) store.VulnRecord {
	return store.VulnRecord{ID: id, Source: "osv", Modified: modified, Hash: hash, Record: []byte(`{"id":"` + id + `","h":"` + hash + `"}`), Keys: keys}
}

func testVulnImport(t *testing.T, db *store.DB) {
	ctx := context.Background()
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	lodash := store.VulnKey{Ecosystem: "npm", Name: "lodash"}
	text := store.VulnKey{Ecosystem: "Go", Name: "golang.org/x/text"}
	recs := []store.VulnRecord{vulnRec("GHSA-1", t0, "a", lodash), vulnRec("GO-1", time.Time{}, "b", text)}
	res, err := db.PutVulnerabilities(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 2 || len(res.Changed) != 2 {
		t.Fatalf("first import: %+v", res)
	}
	res, err = db.PutVulnerabilities(ctx, recs)
	if err != nil || res.Unchanged != 2 || res.Added+res.Updated != 0 || len(res.Changed) != 0 {
		t.Fatalf("same data again: %+v %v", res, err)
	}
	// Older copies are ignored; newer ones, or the same time with other
	// content (zero-time records), replace the stored one and its keys.
	json5 := store.VulnKey{Ecosystem: "npm", Name: "json5"}
	res, err = db.PutVulnerabilities(ctx, []store.VulnRecord{
		vulnRec("GHSA-1", t0.Add(-time.Hour), "old", lodash),
		vulnRec("GO-1", time.Time{}, "c", text),
	})
	if err != nil || res.Older != 1 || res.Updated != 1 {
		t.Fatalf("older and corrected: %+v %v", res, err)
	}
	res, err = db.PutVulnerabilities(ctx, []store.VulnRecord{vulnRec("GHSA-1", t0.Add(time.Hour), "new", json5)})
	if err != nil || res.Updated != 1 {
		t.Fatalf("newer: %+v %v", res, err)
	}
	if !slices.Contains(res.Changed, lodash) || !slices.Contains(res.Changed, json5) {
		t.Fatalf("changed keys %v: want the old and the new", res.Changed)
	}
	if got, _ := db.VulnerabilitiesFor(ctx, []store.VulnKey{lodash}); len(got) != 0 {
		t.Fatalf("old key still finds %s", got)
	}
	if got, _ := db.VulnerabilitiesFor(ctx, []store.VulnKey{json5}); len(got) != 1 || string(got[0]) != `{"id":"GHSA-1","h":"new"}` {
		t.Fatalf("new key finds %s", got)
	}
	if n, err := db.CountVulnerabilities(ctx); err != nil || n != 2 {
		t.Fatalf("count %d %v", n, err)
	}
}

func testVulnLookup(t *testing.T, db *store.DB) {
	ctx := context.Background()
	deb := store.VulnKey{Ecosystem: "Debian", Name: "util-linux"}
	deb12 := store.VulnKey{Ecosystem: "Debian:12", Name: "util-linux"}
	w := vulnRec("W", time.Now(), "w", deb)
	w.Withdrawn = true
	if _, err := db.PutVulnerabilities(ctx, []store.VulnRecord{
		vulnRec("A", time.Now(), "a", deb, deb12), vulnRec("B", time.Now(), "b", deb12), w,
	}); err != nil {
		t.Fatal(err)
	}
	keys := []store.VulnKey{deb, deb12}
	for i := 0; i < 300; i++ { // more than one query batch
		keys = append(keys, store.VulnKey{Ecosystem: "npm", Name: string(rune('a'+i%26)) + "x"})
	}
	got, err := db.VulnerabilitiesFor(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range got {
		ids = append(ids, string(g))
	}
	slices.Sort(ids)
	if len(ids) != 2 || ids[0] != `{"id":"A","h":"a"}` || ids[1] != `{"id":"B","h":"b"}` {
		t.Fatalf("found %v: want A and B once each, not the withdrawn W", ids)
	}
}

func testLayerScan(t *testing.T, db *store.DB) {
	ctx := context.Background()
	d := digest.FromString("layer")
	_, err := db.LayerScan(ctx, d)
	wantCode(t, err, core.CodeNotFound)
	l := store.LayerScan{Digest: d, IndexerVersion: 1, Content: []byte(`{"files":["var/lib/dpkg/status"]}`), Packages: []store.LayerPackage{
		{Type: "deb", Name: "bsdutils", Version: "1:2.38.1-5+deb12u3", SourceName: "util-linux", SourceVersion: "2.38.1-5+deb12u3", Path: "var/lib/dpkg/status"},
		{Type: "npm", Name: "lodash", Version: "4.17.20", Path: "app/node_modules/lodash/package.json"},
	}}
	for i := 0; i < 2; i++ { // replacing is idempotent
		if err := db.PutLayerScan(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.LayerScan(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if got.IndexerVersion != 1 || string(got.Content) != string(l.Content) || !slices.Equal(got.Packages, l.Packages) {
		t.Fatalf("got %+v", got)
	}
}

func testManifestScan(t *testing.T, db *store.DB) {
	ctx := context.Background()
	m1, m2 := digest.FromString("m1"), digest.FromString("m2")
	layer := digest.FromString("layer")
	_, err := db.ManifestScan(ctx, m1)
	wantCode(t, err, core.CodeNotFound)
	if err := db.QueueManifestScan(ctx, m1, "acme/app"); err != nil {
		t.Fatal(err)
	}
	if err := db.QueueManifestScan(ctx, m2, "acme/other"); err != nil {
		t.Fatal(err)
	}
	queued, err := db.ManifestScans(ctx, core.ScanQueued, "", 10)
	if err != nil || len(queued) != 2 {
		t.Fatalf("queued %v %v", queued, err)
	}
	if err := db.PutLayerScan(ctx, store.LayerScan{Digest: layer, IndexerVersion: 1, Content: []byte("{}"),
		Packages: []store.LayerPackage{{Type: "deb", Name: "bsdutils", Version: "1", SourceName: "util-linux", Path: "p"}}}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutManifestScan(ctx, store.ManifestScan{Digest: m1, Repository: "acme/app", Status: core.ScanScanned,
		Report: []byte(`{"status":"scanned"}`), Layers: []digest.Digest{layer, digest.FromString("other")}}); err != nil {
		t.Fatal(err)
	}
	got, err := db.ManifestScan(ctx, m1)
	if err != nil || got.Status != core.ScanScanned || string(got.Report) != `{"status":"scanned"}` || len(got.Layers) != 2 || got.Layers[0] != layer {
		t.Fatalf("got %+v %v", got, err)
	}
	// Queuing a scanned manifest again keeps its report until the new
	// scan lands.
	if err := db.QueueManifestScan(ctx, m1, "acme/app"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.ManifestScan(ctx, m1); got.Status != core.ScanScanned {
		t.Fatalf("re-queued scan lost its status: %+v", got)
	}
	for _, ref := range [][]store.PackageRef{
		{{Type: "deb", Name: "util-linux"}}, {{Type: "deb", Name: "bsdutils"}}, {{Type: "deb"}},
	} {
		ds, err := db.ScannedManifestsWith(ctx, ref)
		if err != nil || !slices.Equal(ds, []digest.Digest{m1}) {
			t.Fatalf("%v: %v %v", ref, ds, err)
		}
	}
	if ds, _ := db.ScannedManifestsWith(ctx, []store.PackageRef{{Type: "npm", Name: "util-linux"}}); len(ds) != 0 {
		t.Fatalf("other type matched: %v", ds)
	}
	scanned, err := db.ManifestScans(ctx, core.ScanScanned, "", 10)
	if err != nil || len(scanned) != 1 || scanned[0].Digest != m1 || scanned[0].Repository != "acme/app" {
		t.Fatalf("scanned %v %v", scanned, err)
	}
}
