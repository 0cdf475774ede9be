package vulndb

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// trackerEntry is one CVE of the Debian security tracker in the per-CVE JSON
// form of its data/CVE/list (as aquasecurity/vuln-list-debian publishes it).
type trackerEntry struct {
	Header struct {
		ID          string `json:"ID"`
		Description string `json:"Description"`
	} `json:"Header"`
	Annotations []struct {
		Type     string `json:"Type"`
		Release  string `json:"Release"`
		Package  string `json:"Package"`
		Kind     string `json:"Kind"`
		Version  string `json:"Version"`
		Severity string `json:"Severity"`
	} `json:"Annotations"`
}

// DecodeDebianTracker converts one tracker entry. Each "package" annotation
// becomes an affected entry of ecosystem "Debian" for the source package,
// limited to its release ("[bookworm] - pkg ...") or, without one, applying
// to every release that has no line of its own:
//
//   - fixed V: versions below V are affected, V is the fix;
//   - unfixed, no-dsa, ignored, postponed, end-of-life: every version is
//     affected and there is no fix;
//   - not-affected, removed: nothing is affected.
//
// The urgency of the release-less line rates the package unless the
// release line has its own.
func DecodeDebianTracker(raw []byte) (Advisory, error) {
	var t trackerEntry
	if err := json.Unmarshal(raw, &t); err != nil {
		return Advisory{}, fmt.Errorf("debian tracker: %w", err)
	}
	id := strings.TrimSpace(t.Header.ID)
	if id == "" {
		return Advisory{}, errors.New("debian tracker: entry without an ID")
	}
	desc := strings.TrimSpace(t.Header.Description)
	if strings.HasPrefix(desc, "(") && strings.HasSuffix(desc, ")") {
		desc = desc[1 : len(desc)-1]
	}
	a := Advisory{
		ID: "DEBIAN-" + id, Name: id, Source: SourceDebianTracker, Summary: desc,
		Severity: SeverityUnknown, Hash: contentHash(raw),
		Links: []string{"https://security-tracker.debian.org/tracker/" + id},
	}
	if strings.HasPrefix(id, "CVE-") {
		a.Aliases = []string{id}
	}
	urgency := map[string]string{}
	for _, an := range t.Annotations {
		if an.Type == "package" && an.Release == "" && an.Severity != "" {
			urgency[an.Package] = an.Severity
		}
	}
	for _, an := range t.Annotations {
		if an.Type != "package" || an.Package == "" {
			continue
		}
		e := Affected{Ecosystem: "Debian", Name: an.Package, Release: an.Release}
		switch an.Kind {
		case "fixed":
			if an.Version == "" {
				continue
			}
			e.Ranges = []Range{{Type: "ECOSYSTEM", Events: []Event{{Introduced: "0"}, {Fixed: an.Version}}}}
		case "unfixed", "no-dsa", "ignored", "postponed", "end-of-life":
			e.Ranges = []Range{{Type: "ECOSYSTEM", Events: []Event{{Introduced: "0"}}}}
		case "not-affected", "removed":
			// An entry with no range: shadows the release-less line.
		default:
			continue
		}
		sev := an.Severity
		if sev == "" {
			sev = urgency[an.Package]
		}
		e.Severity = severityFromRating(sev)
		a.Affected = append(a.Affected, e)
	}
	return a, nil
}
