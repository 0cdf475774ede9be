package vulndb

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/osv-scalibr/semantic"
)

// Query is an installed package to check.
type Query struct {
	// Ecosystem is the package's OSV ecosystem with the release when the
	// ecosystem has releases ("Debian:12", "Alpine:v3.20", "Go", "npm").
	Ecosystem string
	// Release is the distribution codename ("bookworm"), if any.
	Release string
	// Name is the package name (the source package for Debian and Ubuntu).
	Name string
	// Version is the installed version (the source version for Debian and
	// Ubuntu; epoch:version-release for RPM).
	Version string
}

// Match is a positive result of Advisory.Match.
type Match struct {
	// FixedBy is the first fixed version after the installed one, empty
	// when the data knows no fix.
	FixedBy string
	// Severity is the distribution's rating if the matching entry has one,
	// else the advisory's.
	Severity Severity
}

// Match reports whether the advisory affects the installed package. A
// withdrawn advisory affects nothing. Entries are chosen by ecosystem: an
// entry for exactly q.Ecosystem applies; an entry for the bare ecosystem
// ("Debian") with a Release applies to that release only, and one without a
// Release applies unless the advisory has a release entry for the same
// package. Versions are compared with the ecosystem's own ordering; an error
// is returned only when the installed version cannot be parsed.
func (a *Advisory) Match(q Query) (Match, bool, error) {
	if a.IsWithdrawn() {
		return Match{}, false, nil
	}
	name := NormalizeName(q.Ecosystem, q.Name)
	base := baseEcosystem(q.Ecosystem)
	var exact, release, fallback []int
	for i, af := range a.Affected {
		if NormalizeName(af.Ecosystem, af.Name) != name {
			continue
		}
		switch {
		case af.Ecosystem == q.Ecosystem && af.Release == "":
			exact = append(exact, i)
		case af.Ecosystem == base && af.Release != "" && af.Release == q.Release:
			release = append(release, i)
		case af.Ecosystem == base && af.Release == "" && base != q.Ecosystem:
			fallback = append(fallback, i)
		}
	}
	entries := exact
	if len(release) > 0 {
		entries = append(entries, release...)
	} else {
		entries = append(entries, fallback...)
	}
	if len(entries) == 0 {
		return Match{}, false, nil
	}
	version := normalizeVersion(base, q.Version)
	installed, err := semantic.Parse(version, base)
	if err != nil {
		return Match{}, false, fmt.Errorf("version %q of %s: %w", q.Version, q.Name, err)
	}
	for _, i := range entries {
		af := a.Affected[i]
		fixed, hit := affectedBy(af, base, version, installed)
		if hit {
			sev := af.Severity
			if sev == "" {
				sev = a.Severity
			}
			if sev == "" {
				sev = SeverityUnknown
			}
			return Match{FixedBy: fixed, Severity: sev}, true, nil
		}
	}
	return Match{}, false, nil
}

// normalizeVersion removes the "v" that Go module versions carry and OSV's
// Go records do not.
func normalizeVersion(ecosystem, v string) string {
	if ecosystem == "Go" {
		v = strings.TrimPrefix(v, "go")
		return strings.TrimPrefix(v, "v")
	}
	return v
}

// affectedBy evaluates one entry: listed versions, then each range.
func affectedBy(af Affected, ecosystem, version string, installed semantic.Version) (string, bool) {
	for _, v := range af.Versions {
		if normalizeVersion(ecosystem, v) == version {
			return "", true
		}
	}
	for _, r := range af.Ranges {
		if r.Type != "ECOSYSTEM" && r.Type != "SEMVER" {
			continue
		}
		if fixed, hit := inRange(r, ecosystem, installed); hit {
			return fixed, true
		}
	}
	return "", false
}

// inRange applies the OSV evaluation: sort the events by version, then walk
// them; an "introduced" at or below the installed version opens an affected
// interval, a "fixed" at or below it (or a "last_affected" below it) closes
// it. When the version ends inside an interval, the next "fixed" event is
// the fix. Events whose version cannot be parsed are ignored.
func inRange(r Range, ecosystem string, installed semantic.Version) (string, bool) {
	type ev struct {
		Event
		v    semantic.Version // nil for introduced "0"
		cmp  int              // installed compared to v
		kind int              // 0 introduced, 1 fixed, 2 last_affected
	}
	var evs []ev
	for _, e := range r.Events {
		var s string
		var kind int
		switch {
		case e.Introduced != "":
			s, kind = e.Introduced, 0
		case e.Fixed != "":
			s, kind = e.Fixed, 1
		case e.LastAffected != "":
			s, kind = e.LastAffected, 2
		default:
			continue
		}
		x := ev{Event: e, kind: kind, cmp: 1}
		if !(kind == 0 && s == "0") {
			v, err := semantic.Parse(normalizeVersion(ecosystem, s), ecosystem)
			if err != nil {
				continue
			}
			c, err := installed.Compare(v)
			if err != nil {
				continue
			}
			x.v, x.cmp = v, c
		}
		evs = append(evs, x)
	}
	slices.SortStableFunc(evs, func(a, b ev) int {
		switch {
		case a.v == nil && b.v == nil:
			return 0
		case a.v == nil:
			return -1
		case b.v == nil:
			return 1
		}
		c, err := a.v.Compare(b.v)
		if err != nil {
			return 0
		}
		return c
	})
	affected := false
	for i, e := range evs {
		takesEffect := e.cmp >= 0
		if e.kind == 2 {
			takesEffect = e.cmp > 0
		}
		if !takesEffect {
			// This event and every later one lie above the installed
			// version: the state is final.
			if !affected {
				return "", false
			}
			for _, f := range evs[i:] {
				switch f.kind {
				case 1:
					return f.Fixed, true
				case 2:
					return "", true
				}
			}
			return "", true
		}
		affected = e.kind == 0
	}
	return "", affected
}
