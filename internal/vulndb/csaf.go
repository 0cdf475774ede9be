package vulndb

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// csafDoc is the subset of a CSAF 2.0 VEX document that is imported.
type csafDoc struct {
	Document struct {
		Category  string `json:"category"`
		Aggregate struct {
			Text string `json:"text"`
		} `json:"aggregate_severity"`
		Tracking struct {
			ID                 string `json:"id"`
			CurrentReleaseDate string `json:"current_release_date"`
			InitialReleaseDate string `json:"initial_release_date"`
		} `json:"tracking"`
		References []struct {
			Category string `json:"category"`
			URL      string `json:"url"`
		} `json:"references"`
	} `json:"document"`
	ProductTree struct {
		Branches      []csafBranch `json:"branches"`
		Relationships []struct {
			FullProductName struct {
				ProductID string `json:"product_id"`
			} `json:"full_product_name"`
			ProductReference          string `json:"product_reference"`
			RelatesToProductReference string `json:"relates_to_product_reference"`
		} `json:"relationships"`
	} `json:"product_tree"`
	Vulnerabilities []struct {
		CVE   string `json:"cve"`
		Title string `json:"title"`
		Notes []struct {
			Category string `json:"category"`
			Text     string `json:"text"`
		} `json:"notes"`
		ProductStatus struct {
			Fixed            []string `json:"fixed"`
			KnownAffected    []string `json:"known_affected"`
			KnownNotAffected []string `json:"known_not_affected"`
		} `json:"product_status"`
		Scores []struct {
			CVSSv3 *struct {
				VectorString string `json:"vectorString"`
			} `json:"cvss_v3"`
		} `json:"scores"`
		Threats []struct {
			Category string `json:"category"`
			Details  string `json:"details"`
		} `json:"threats"`
	} `json:"vulnerabilities"`
}

type csafBranch struct {
	Category string `json:"category"`
	Name     string `json:"name"`
	Product  *struct {
		ProductID string `json:"product_id"`
		Helper    struct {
			CPE  string `json:"cpe"`
			PURL string `json:"purl"`
		} `json:"product_identification_helper"`
	} `json:"product"`
	Branches []csafBranch `json:"branches"`
}

// rhelCPE matches the main RHEL streams' CPEs (not EUS, AUS, layered
// products): cpe:/o:redhat:enterprise_linux:9::baseos and the like.
var rhelCPE = regexp.MustCompile(`^cpe:/[ao]:redhat:enterprise_linux:(\d+)(::[a-z_]+)?$`)

// RedHatRelease names the release key of a RHEL major version, as affected
// entries converted from CSAF carry it ("rhel9").
func RedHatRelease(major string) string { return "rhel" + major }

// DecodeCSAF converts a Red Hat CSAF/VEX document: one advisory per
// vulnerability, id "REDHAT-<CVE>", with an affected entry of ecosystem
// "Red Hat" per RPM and platform. Platforms that are main RHEL streams get
// the release "rhel<major>"; others (layered products, EUS streams) keep
// their CPE as release and match only images that report that CPE.
//
//   - fixed: versions below the listed NEVRA's epoch:version-release;
//   - known_affected: every version, no fix;
//   - known_not_affected: nothing (shadows nothing else either).
//
// Severity is Red Hat's own impact rating; the CVSS v3 vector is kept.
func DecodeCSAF(raw []byte) ([]Advisory, error) {
	var d csafDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("csaf: %w", err)
	}
	if d.Document.Category != "csaf_vex" {
		return nil, fmt.Errorf("%w: CSAF document of category %q (only csaf_vex is imported)", ErrNotRecord, d.Document.Category)
	}
	products := map[string]csafProduct{}
	var walk func(bs []csafBranch, depth int)
	walk = func(bs []csafBranch, depth int) {
		if depth > 32 {
			return
		}
		for _, b := range bs {
			if b.Product != nil && b.Product.ProductID != "" {
				products[b.Product.ProductID] = csafProduct{cpe: b.Product.Helper.CPE, purl: b.Product.Helper.PURL}
			}
			walk(b.Branches, depth+1)
		}
	}
	walk(d.ProductTree.Branches, 0)
	type rel struct{ component, platform string }
	rels := map[string]rel{}
	for _, r := range d.ProductTree.Relationships {
		rels[r.FullProductName.ProductID] = rel{r.ProductReference, r.RelatesToProductReference}
	}
	modified, _ := parseTime(d.Document.Tracking.CurrentReleaseDate)
	published, _ := parseTime(d.Document.Tracking.InitialReleaseDate)
	var self string
	for _, r := range d.Document.References {
		if r.Category == "self" {
			self = r.URL
		}
	}
	hash := contentHash(raw)
	var out []Advisory
	for _, v := range d.Vulnerabilities {
		id := v.CVE
		if id == "" {
			id = d.Document.Tracking.ID
		}
		if id == "" {
			continue
		}
		a := Advisory{ID: "REDHAT-" + id, Name: id, Source: SourceRedHatCSAF, Summary: v.Title,
			Modified: modified, Published: published, Hash: hash,
			Severity: severityFromRating(d.Document.Aggregate.Text)}
		if strings.HasPrefix(id, "CVE-") {
			a.Aliases = []string{id}
		}
		for _, n := range v.Notes {
			if n.Category == "description" {
				a.Details = n.Text
			}
		}
		for _, t := range v.Threats {
			if t.Category == "impact" && t.Details != "" {
				a.Severity = severityFromRating(t.Details)
				break
			}
		}
		for _, s := range v.Scores {
			if s.CVSSv3 != nil {
				if score, ok := ScoreVector(s.CVSSv3.VectorString); ok {
					a.CVSS = &CVSS{Vector: s.CVSSv3.VectorString, Score: score}
					break
				}
			}
		}
		if self != "" {
			a.Links = append(a.Links, self)
		}
		a.Links = append(a.Links, "https://access.redhat.com/security/cve/"+id)
		seen := map[string]bool{}
		add := func(pid string, kind int) {
			r, ok := rels[pid]
			if !ok {
				return
			}
			name, version, ok := rpmOf(r.component, products[r.component].purl)
			if !ok {
				return
			}
			release := products[r.platform].cpe
			if m := rhelCPE.FindStringSubmatch(release); m != nil {
				release = RedHatRelease(m[1])
			}
			if release == "" {
				release = r.platform
			}
			e := Affected{Ecosystem: "Red Hat", Name: name, Release: release}
			switch kind {
			case 0:
				if version == "" {
					return
				}
				e.Ranges = []Range{{Type: "ECOSYSTEM", Events: []Event{{Introduced: "0"}, {Fixed: version}}}}
			case 1:
				e.Ranges = []Range{{Type: "ECOSYSTEM", Events: []Event{{Introduced: "0"}}}}
			}
			key := fmt.Sprint(kind, e.Name, e.Release, version)
			if seen[key] {
				return
			}
			seen[key] = true
			a.Affected = append(a.Affected, e)
		}
		for _, p := range v.ProductStatus.Fixed {
			add(p, 0)
		}
		for _, p := range v.ProductStatus.KnownAffected {
			add(p, 1)
		}
		for _, p := range v.ProductStatus.KnownNotAffected {
			add(p, 2)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: CSAF document without vulnerabilities", ErrNotRecord)
	}
	return out, nil
}

type csafProduct struct{ cpe, purl string }

// nevra matches "name-epoch:version-release.arch" product ids.
var nevra = regexp.MustCompile(`^(.+)-(\d+):([^-:]+)-([^-:]+)\.([a-z0-9_]+)$`)

// rpmOf reads an RPM's name and epoch:version-release from a CSAF component:
// its purl (pkg:rpm/redhat/NAME@VERSION-RELEASE?arch=…&epoch=N) or a NEVRA
// product id. A component without version (known_affected source packages)
// gives only the name; containers and other kinds give ok false.
func rpmOf(component, purl string) (name, version string, ok bool) {
	if m := nevra.FindStringSubmatch(component); m != nil {
		return m[1], m[2] + ":" + m[3] + "-" + m[4], true
	}
	if rest, found := strings.CutPrefix(purl, "pkg:rpm/"); found {
		path, query, _ := strings.Cut(rest, "?")
		_, nv, _ := strings.Cut(path, "/")
		n, v, _ := strings.Cut(nv, "@")
		n, _ = url.PathUnescape(n)
		if v != "" {
			epoch := "0"
			if q, err := url.ParseQuery(query); err == nil && q.Get("epoch") != "" {
				epoch = q.Get("epoch")
			}
			v = epoch + ":" + v
		}
		return n, v, n != ""
	}
	if purl == "" && component != "" && !strings.ContainsAny(component, "/: ") {
		return component, "", true
	}
	return "", "", false
}
