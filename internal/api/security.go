package api

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

// SecurityReports is what the security endpoints need from the scanner.
type SecurityReports interface {
	// Report returns the stored vulnerability report of a manifest digest
	// (status queued when it has not been scanned).
	Report(ctx context.Context, d digest.Digest) (core.SecurityReport, error)
}

func (h *Handler) securityRoutes() {
	h.rt.handle("GET", "/repository/{repo}/manifest/{digest}/security", h.manifestSecurity)
	h.rt.handle("GET", "/repository/{repo}/tag/{tag}/security", h.tagSecurity)
}

// securityReport checks read access to the repository and that it has the
// manifest, then loads the report. Without a scanner (the feature is off)
// the endpoints do not exist, as in Quay.
func (h *Handler) securityReport(r *http.Request, p params, ref oci.Reference) (core.SecurityReport, error) {
	if h.opts.Security == nil {
		return core.SecurityReport{}, errNotFound("security scanning is not enabled")
	}
	repo, err := h.accessRepo(r, p, noScope, core.RoleRead)
	if err != nil {
		return core.SecurityReport{}, err
	}
	m, err := h.db.Manifest(r.Context(), repo.FullName, ref)
	if err != nil {
		if core.IsCode(err, core.CodeManifestUnknown) || core.IsCode(err, core.CodeNameUnknown) {
			return core.SecurityReport{}, errNotFound("manifest not found")
		}
		return core.SecurityReport{}, err
	}
	return h.opts.Security.Report(r.Context(), m.Digest)
}

// manifestSecurity is Quay's GET …/manifest/{digest}/security: the Clair
// v4 report in Quay's shape. Vulnerabilities are always included (Quay's
// v4 model ignores ?vulnerabilities too).
func (h *Handler) manifestSecurity(w http.ResponseWriter, r *http.Request, p params) error {
	d, err := oci.ParseDigest(p["digest"])
	if err != nil {
		return errNotFound("manifest not found")
	}
	rep, err := h.securityReport(r, p, oci.Reference{Digest: d})
	if err != nil {
		return err
	}
	if rep.Status != core.ScanScanned {
		writeJSON(w, http.StatusOK, map[string]any{"status": rep.Status, "data": nil})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": rep.Status, "data": quayLayer(rep)})
	return nil
}

// tagSecurity is a Wharf extension: the per-severity counts of the
// manifest a tag points at, and how many of them have a fix.
func (h *Handler) tagSecurity(w http.ResponseWriter, r *http.Request, p params) error {
	if err := oci.ValidateTag(p["tag"]); err != nil {
		return errNotFound("tag not found")
	}
	rep, err := h.securityReport(r, p, oci.Reference{Tag: p["tag"]})
	if err != nil {
		return err
	}
	out := map[string]any{"status": rep.Status, "manifest_digest": string(rep.Manifest)}
	if rep.Status == core.ScanScanned {
		counts := map[string]int{}
		for _, s := range []string{"Critical", "High", "Medium", "Low", "Negligible", "Unknown"} {
			counts[s] = 0
		}
		fixable, total := 0, 0
		for _, pkg := range rep.Packages {
			for _, v := range pkg.Vulnerabilities {
				counts[v.Severity]++
				total++
				if fixedBy(v.FixedBy) != "" {
					fixable++
				}
			}
		}
		out["summary"] = counts
		out["fixable"] = fixable
		out["total"] = total
		out["packages"] = len(rep.Packages)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// quayLayer builds Quay's data.Layer: Name is the manifest digest,
// IndexedByVersion 4 (Clair v4), one Feature per package.
func quayLayer(rep core.SecurityReport) map[string]any {
	features := make([]map[string]any, 0, len(rep.Packages))
	for _, pkg := range rep.Packages {
		vulns := make([]map[string]any, 0, len(pkg.Vulnerabilities))
		var scores []float64
		var cves []string
		seen := map[string]bool{}
		for _, v := range pkg.Vulnerabilities {
			// Quay de-duplicates per package, version and name.
			if seen[v.Name] {
				continue
			}
			seen[v.Name] = true
			link := strings.Join(v.Links, " ")
			metadata := map[string]any{
				"UpdatedBy": v.UpdatedBy, "RepoName": nil, "RepoLink": nil, "DistroName": nil, "DistroVersion": nil,
				"NVD": map[string]any{"CVSSv3": map[string]any{"Vectors": v.CVSSVector, "Score": cvssScore(v.CVSSScore)}},
			}
			if isDistroFormat(pkg.Format) {
				metadata["DistroName"], metadata["DistroVersion"] = rep.DistroName, rep.DistroVersion
			}
			if v.CVSSScore > 0 {
				scores = append(scores, v.CVSSScore)
			}
			cves = append(cves, cveIDs.FindAllString(link+" "+v.Name+" "+strings.Join(v.Aliases, " "), -1)...)
			vulns = append(vulns, map[string]any{
				"Severity": v.Severity, "NamespaceName": v.UpdatedBy, "Link": link, "FixedBy": fixedBy(v.FixedBy),
				"Description": v.Description, "Name": v.Name, "Metadata": metadata,
			})
		}
		slices.Sort(cves)
		features = append(features, map[string]any{
			"Name": pkg.Name, "VersionFormat": pkg.Format, "NamespaceName": pkg.Namespace, "AddedBy": string(pkg.AddedBy),
			"Version": pkg.Version, "BaseScores": nonNil(scores), "CVEIds": nonNil(slices.Compact(cves)), "Vulnerabilities": vulns,
		})
	}
	return map[string]any{"Layer": map[string]any{
		"Name": string(rep.Manifest), "ParentName": "", "NamespaceName": "", "IndexedByVersion": 4, "Features": features,
	}}
}

var cveIDs = regexp.MustCompile(`CVE-\d{4}-\d{4,7}`)

// fixedBy follows Quay: Clair's "0" (no fix) becomes "".
func fixedBy(v string) string {
	if v == "0" {
		return ""
	}
	return v
}

// cvssScore is "" when there is no score, as Quay writes it.
func cvssScore(s float64) any {
	if s <= 0 {
		return ""
	}
	return s
}

func isDistroFormat(f string) bool { return f == "dpkg" || f == "rpm" || f == "apk" }

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
