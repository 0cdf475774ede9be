package scanner

import (
	"cmp"
	"slices"
	"strings"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/vulndb"
)

// target is how one image package is looked up in the vulnerability data.
type target struct {
	format    string // dpkg, rpm, apk, go, npm, pypi, maven
	namespace string // what reports show: "debian:12", "go", ...
	queries   []vulndb.Query
}

// targetFor maps a package to its vulnerability ecosystem. Distribution
// packages need the image's distribution: Debian and Ubuntu are matched on
// their source package, Alpine on the origin, RPMs on the binary and the
// source rpm name. Packages the data cannot speak about get no queries.
func targetFor(p ImagePackage, d *Distro) target {
	q := vulndb.Query{Name: p.Name, Version: p.Version}
	switch p.Type {
	case "golang":
		q.Ecosystem = "Go"
		return target{format: "go", namespace: "go", queries: []vulndb.Query{q}}
	case "npm":
		q.Ecosystem = "npm"
		return target{format: "npm", namespace: "npm", queries: []vulndb.Query{q}}
	case "pypi":
		q.Ecosystem = "PyPI"
		return target{format: "pypi", namespace: "pypi", queries: []vulndb.Query{q}}
	case "maven":
		q.Ecosystem = "Maven"
		return target{format: "maven", namespace: "maven", queries: []vulndb.Query{q}}
	case "deb":
		t := target{format: "dpkg"}
		if d == nil || (d.ID != "debian" && d.ID != "ubuntu") {
			return t
		}
		if p.SourceName != "" {
			q.Name = p.SourceName
		}
		if p.SourceVersion != "" {
			q.Version = p.SourceVersion
		}
		ver := d.VersionID
		eco := "Ubuntu"
		if d.ID == "debian" {
			eco = "Debian"
			ver, _, _ = strings.Cut(ver, ".")
		}
		if ver == "" {
			return t
		}
		q.Ecosystem, q.Release = eco+":"+ver, d.Codename
		t.namespace = d.ID + ":" + ver
		t.queries = []vulndb.Query{q}
		return t
	case "apk":
		t := target{format: "apk"}
		if d == nil || d.ID != "alpine" {
			return t
		}
		parts := strings.SplitN(d.VersionID, ".", 3)
		if len(parts) < 2 {
			return t
		}
		q.Ecosystem = "Alpine:v" + parts[0] + "." + parts[1]
		t.namespace = "alpine:v" + parts[0] + "." + parts[1]
		if p.SourceName != "" {
			q.Name = p.SourceName
		}
		t.queries = []vulndb.Query{q}
		return t
	case "rpm":
		t := target{format: "rpm"}
		if d == nil {
			return t
		}
		major, _, _ := strings.Cut(d.VersionID, ".")
		switch d.ID {
		case "rhel", "centos":
			q.Ecosystem, q.Release = "Red Hat", vulndb.RedHatRelease(major)
		case "rocky":
			q.Ecosystem = "Rocky Linux:" + major
		case "almalinux":
			q.Ecosystem = "AlmaLinux:" + major
		default:
			return t
		}
		t.namespace = d.ID + ":" + major
		t.queries = []vulndb.Query{q}
		if p.SourceName != "" {
			s := q
			s.Name = p.SourceName
			t.queries = append(t.queries, s)
		}
		return t
	}
	return target{format: p.Type}
}

// keysOf lists the store keys under which a query's advisories are filed:
// the exact ecosystem and, for ecosystems with releases, the bare one
// (distribution trackers file per-release lines there).
func keysOf(q vulndb.Query) []vulndb.PackageKey {
	name := vulndb.NormalizeName(q.Ecosystem, q.Name)
	keys := []vulndb.PackageKey{{Ecosystem: q.Ecosystem, Name: name}}
	if base, _, ok := strings.Cut(q.Ecosystem, ":"); ok {
		keys = append(keys, vulndb.PackageKey{Ecosystem: base, Name: name})
	}
	return keys
}

// matchPackages builds the report's packages: for each image package, the
// advisories (from byKey) that affect it, one per advisory name, most
// severe first.
func matchPackages(img Image, byKey map[vulndb.PackageKey][]*vulndb.Advisory) []core.ScannedPackage {
	out := make([]core.ScannedPackage, 0, len(img.Packages))
	for _, p := range img.Packages {
		t := targetFor(p, img.Distro)
		sp := core.ScannedPackage{Name: p.Name, Version: p.Version, Format: t.format, Namespace: t.namespace,
			AddedBy: p.AddedBy, Path: p.Path}
		seen := map[string]bool{}
		for _, q := range t.queries {
			for _, k := range keysOf(q) {
				for _, a := range byKey[k] {
					if seen[a.DisplayName()] {
						continue
					}
					m, ok, err := a.Match(q)
					if err != nil || !ok {
						continue
					}
					seen[a.DisplayName()] = true
					sp.Vulnerabilities = append(sp.Vulnerabilities, vulnerabilityOf(a, m, q))
				}
			}
		}
		slices.SortFunc(sp.Vulnerabilities, func(a, b core.Vulnerability) int {
			ra, _ := vulndb.ParseSeverity(a.Severity)
			rb, _ := vulndb.ParseSeverity(b.Severity)
			return cmp.Or(cmp.Compare(rb.Rank(), ra.Rank()), cmp.Compare(a.Name, b.Name))
		})
		out = append(out, sp)
	}
	return out
}

func vulnerabilityOf(a *vulndb.Advisory, m vulndb.Match, q vulndb.Query) core.Vulnerability {
	v := core.Vulnerability{ID: a.ID, Name: a.DisplayName(), Severity: string(m.Severity), FixedBy: m.FixedBy,
		Description: a.Summary, Links: a.Links, Aliases: a.Aliases}
	if a.Details != "" {
		v.Description = a.Details
	}
	if a.CVSS != nil {
		v.CVSSVector, v.CVSSScore = a.CVSS.Vector, a.CVSS.Score
	}
	switch a.Source {
	case vulndb.SourceDebianTracker:
		v.UpdatedBy = "debian/" + q.Release
	case vulndb.SourceRedHatCSAF:
		v.UpdatedBy = "redhat/" + q.Release
	default:
		v.UpdatedBy = "osv/" + q.Ecosystem
	}
	return v
}
