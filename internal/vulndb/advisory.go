package vulndb

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// Source names the feed an advisory came from.
const (
	SourceOSV           = "osv"
	SourceDebianTracker = "debian-tracker"
	SourceRedHatCSAF    = "redhat-csaf"
)

// Advisory is one vulnerability record in the shape of an OSV record, reduced
// to what matching and reporting need.
type Advisory struct {
	// ID is unique across sources: the OSV id, "DEBIAN-<CVE>" for Debian
	// tracker entries, "RHSA-…"/"<CVE>" style ids for Red Hat documents.
	ID string `json:"id"`
	// Name is what reports show (a CVE id for distribution trackers);
	// empty means ID.
	Name      string     `json:"name,omitempty"`
	Source    string     `json:"source"`
	Summary   string     `json:"summary,omitempty"`
	Details   string     `json:"details,omitempty"`
	Aliases   []string   `json:"aliases,omitempty"`
	Modified  time.Time  `json:"modified"`
	Published time.Time  `json:"published,omitzero"`
	Withdrawn *time.Time `json:"withdrawn,omitempty"`
	// Severity is the record's own rating on Quay's scale; an affected
	// entry may carry a distribution's rating that overrides it.
	Severity Severity `json:"severity"`
	// CVSS is the vector the severity was computed from, if any.
	CVSS *CVSS `json:"cvss,omitempty"`
	// Links are URLs about the vulnerability, the most specific first.
	Links    []string   `json:"links,omitempty"`
	Affected []Affected `json:"affected"`
	// Hash identifies the content the advisory was decoded from, so an
	// import can tell an unchanged record from a corrected one that kept its
	// modification time.
	Hash string `json:"hash,omitempty"`
}

// CVSS is a CVSS vector and its base score.
type CVSS struct {
	Vector string  `json:"vector"`
	Score  float64 `json:"score"`
}

// Affected is one affected package of an advisory.
type Affected struct {
	// Ecosystem is the OSV ecosystem, optionally with a release suffix
	// ("Go", "npm", "PyPI", "Debian:12", "Alpine:v3.20", "Red Hat").
	Ecosystem string `json:"ecosystem"`
	// Name is the package name as the ecosystem spells it (the source
	// package for Debian and Ubuntu).
	Name string `json:"name"`
	// Release limits the entry to one distribution release by codename
	// (Debian tracker lines "[bookworm] - pkg ..."). Entries without a
	// release apply to releases that have no entry of their own.
	Release string `json:"release,omitempty"`
	// Ranges and Versions say which versions are affected. An entry with
	// neither affects nothing (a "not affected" statement).
	Ranges   []Range  `json:"ranges,omitempty"`
	Versions []string `json:"versions,omitempty"`
	// Severity, when set, is the distribution's own rating for this package.
	Severity Severity `json:"severity,omitempty"`
}

// Range is an OSV range: events ordered by version.
type Range struct {
	// Type is ECOSYSTEM or SEMVER (GIT ranges are not imported).
	Type   string  `json:"type"`
	Events []Event `json:"events"`
}

// Event is one OSV range event; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
}

// DisplayName is the name reports show.
func (a *Advisory) DisplayName() string {
	if a.Name != "" {
		return a.Name
	}
	return a.ID
}

// IsWithdrawn reports whether the record has been withdrawn by its source.
func (a *Advisory) IsWithdrawn() bool { return a.Withdrawn != nil && !a.Withdrawn.IsZero() }

// PackageKey is an (ecosystem, name) pair under which an advisory is found.
type PackageKey struct {
	Ecosystem string
	Name      string
}

// Keys lists the distinct (ecosystem, name) pairs of the affected entries,
// names normalised as NormalizeName does.
func (a *Advisory) Keys() []PackageKey {
	seen := map[PackageKey]bool{}
	var out []PackageKey
	for _, af := range a.Affected {
		k := PackageKey{Ecosystem: af.Ecosystem, Name: NormalizeName(af.Ecosystem, af.Name)}
		if k.Name == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k)
	}
	return out
}

// NormalizeName returns the form of a package name used for lookups: PyPI
// names are compared as PEP 503 normalises them, Maven coordinates and the
// distributions' names case-insensitively; npm, Go and others exactly.
func NormalizeName(ecosystem, name string) string {
	switch baseEcosystem(ecosystem) {
	case "PyPI":
		var b strings.Builder
		dash := false
		for _, r := range strings.ToLower(strings.TrimSpace(name)) {
			if r == '-' || r == '_' || r == '.' {
				if !dash {
					b.WriteByte('-')
				}
				dash = true
				continue
			}
			dash = false
			b.WriteRune(r)
		}
		return b.String()
	case "Maven", "Debian", "Ubuntu", "Alpine":
		return strings.ToLower(name)
	}
	return name
}

// baseEcosystem strips a ":release" suffix ("Debian:12" -> "Debian").
func baseEcosystem(e string) string {
	if i := strings.IndexByte(e, ':'); i >= 0 {
		return e[:i]
	}
	return e
}

// contentHash is the hex sha256 of a canonical JSON encoding of v.
func contentHash(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// Encode returns the advisory's JSON encoding (what the store keeps).
func (a *Advisory) Encode() ([]byte, error) { return json.Marshal(a) }

// DecodeStored decodes an advisory encoded by Encode.
func DecodeStored(b []byte) (Advisory, error) {
	var a Advisory
	err := json.Unmarshal(b, &a)
	return a, err
}
