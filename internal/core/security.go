package core

import (
	"time"

	"github.com/opencontainers/go-digest"
)

// Scan statuses of a manifest (Quay's security status values).
const (
	ScanQueued      = "queued"
	ScanScanned     = "scanned"
	ScanFailed      = "failed"
	ScanUnsupported = "unsupported"
)

// SecurityReport is the vulnerability report of one manifest: every
// package the scanner found and the vulnerabilities that affect it.
type SecurityReport struct {
	Manifest digest.Digest `json:"manifest"`
	Status   string        `json:"status"`
	// Error says why a scan failed.
	Error     string    `json:"error,omitempty"`
	ScannedAt time.Time `json:"scanned_at,omitzero"`
	// Distro names the image's operating system ("" when unknown).
	DistroName    string           `json:"distro_name,omitempty"`
	DistroVersion string           `json:"distro_version,omitempty"`
	Packages      []ScannedPackage `json:"packages,omitempty"`
}

// ScannedPackage is an installed package of a scanned manifest.
type ScannedPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Format is the kind of package and version ordering: dpkg, rpm, apk,
	// go, npm, pypi, maven.
	Format string `json:"format"`
	// Namespace is the vulnerability namespace the package was matched in
	// ("debian:12", "go", "npm").
	Namespace string        `json:"namespace,omitempty"`
	AddedBy   digest.Digest `json:"added_by"`
	Path      string        `json:"path,omitempty"`
	// Vulnerabilities affecting this version, most severe first.
	Vulnerabilities []Vulnerability `json:"vulnerabilities,omitempty"`
}

// Vulnerability is one advisory affecting a package.
type Vulnerability struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Severity    string   `json:"severity"`
	FixedBy     string   `json:"fixed_by,omitempty"`
	Description string   `json:"description,omitempty"`
	Links       []string `json:"links,omitempty"`
	// UpdatedBy names the data source ("osv/Go", "debian/bookworm").
	UpdatedBy  string   `json:"updated_by"`
	CVSSVector string   `json:"cvss_vector,omitempty"`
	CVSSScore  float64  `json:"cvss_score,omitempty"`
	Aliases    []string `json:"aliases,omitempty"`
}
