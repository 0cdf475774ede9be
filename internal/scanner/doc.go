// Package scanner is the built-in image vulnerability scanner (what Quay
// delegates to Clair): it indexes image layers into installed packages and
// matches them against imported vulnerability data.
//
//   - Indexing streams each layer blob once (tar, gzip or zstd), keeps only
//     the files the package extractors want (dpkg status, rpm database, apk
//     installed db, Go binaries, Python dist-info/egg-info, npm package.json)
//     plus /etc/os-release, and runs osv-scalibr's extractors on them. The
//     result is stored per layer digest, so a layer shared by many images is
//     indexed once.
//   - Composing an image walks its layers bottom-up: a package found in a
//     file counts only if no higher layer replaces the file, deletes it (a
//     ".wh." whiteout) or hides its directory (".wh..wh..opq").
//   - Matching maps each package to its vulnerability ecosystem (Debian:12
//     source packages, Go modules, npm, ...) and asks vulndb which advisories
//     affect the installed version; the report is stored per manifest digest
//     and recomputed without re-indexing when new data is imported: Import
//     queues the manifests the changed records concern as
//     store.JobScanRematch jobs of RematchBatch manifests.
//   - Download fetches configured sources (OSV zips, JSON files) with
//     conditional requests and imports what changed.
//
// It imports blob, store, oci, core and vulndb, never the HTTP edges.
package scanner
