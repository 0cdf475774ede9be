// Package vulndb owns the vulnerability data model of the image scanner: an
// Advisory is one vulnerability record (an OSV record, or a Debian security
// tracker entry or Red Hat CSAF/VEX document converted to the same shape),
// with the packages and version ranges it affects and its severity on Quay's
// six-level scale.
//
// It decodes the published formats (Decode), reads them from files,
// directories and zip archives (Walk), and decides whether an installed
// package version is affected and by which fixed version (Advisory.Match),
// comparing versions with each ecosystem's own rules (osv-scalibr's semantic
// package: dpkg, rpm with epochs, apk, semver, PEP 440, Maven, ...).
//
// Everything here is pure: no storage, no HTTP, no logging. It imports no
// internal package.
package vulndb
