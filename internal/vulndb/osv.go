package vulndb

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotRecord is returned by Decode for JSON that is no vulnerability
// record (an index, a distribution map, ...); imports skip such files.
var ErrNotRecord = errors.New("not a vulnerability record")

// MaxRecordSize bounds one record file; larger ones are refused.
const MaxRecordSize = 64 << 20

// Decode recognises the format of one JSON document and converts it: an OSV
// record, a Debian security tracker entry (the per-CVE JSON of the
// tracker's data/CVE/list) or a Red Hat CSAF/VEX document. It returns
// ErrNotRecord (wrapped) for other JSON and an error for malformed input.
func Decode(raw []byte) ([]Advisory, error) {
	if len(raw) > MaxRecordSize {
		return nil, fmt.Errorf("record of %d bytes exceeds %d", len(raw), MaxRecordSize)
	}
	var probe struct {
		ID          *string         `json:"id"`
		Affected    json.RawMessage `json:"affected"`
		Modified    *string         `json:"modified"`
		Header      json.RawMessage `json:"Header"`
		Annotations json.RawMessage `json:"Annotations"`
		Document    *struct {
			CSAFVersion string `json:"csaf_version"`
		} `json:"document"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field == "" {
			return nil, fmt.Errorf("%w: top level is a JSON %s", ErrNotRecord, typeErr.Value)
		}
		return nil, fmt.Errorf("decode: %w", err)
	}
	switch {
	case probe.ID != nil && (probe.Modified != nil || probe.Affected != nil):
		a, err := DecodeOSV(raw)
		if err != nil {
			return nil, err
		}
		return []Advisory{a}, nil
	case probe.Header != nil && probe.Annotations != nil:
		a, err := DecodeDebianTracker(raw)
		if err != nil {
			return nil, err
		}
		return []Advisory{a}, nil
	case probe.Document != nil && probe.Document.CSAFVersion != "":
		return DecodeCSAF(raw)
	}
	return nil, ErrNotRecord
}

// osvRecord is the subset of the OSV schema (1.x) that is imported.
type osvRecord struct {
	ID        string    `json:"id"`
	Modified  string    `json:"modified"`
	Published string    `json:"published"`
	Withdrawn string    `json:"withdrawn"`
	Aliases   []string  `json:"aliases"`
	Summary   string    `json:"summary"`
	Details   string    `json:"details"`
	Severity  []osvSev  `json:"severity"`
	Affected  []osvAff  `json:"affected"`
	Refs      []osvRef  `json:"references"`
	DBSpec    osvDBSpec `json:"database_specific"`
}

type osvSev struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type osvRef struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

type osvDBSpec struct {
	URL      string `json:"url"`
	Severity string `json:"severity"`
}

type osvAff struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
	Severity []osvSev `json:"severity"`
	Ranges   []struct {
		Type   string `json:"type"`
		Events []struct {
			Introduced   string `json:"introduced"`
			Fixed        string `json:"fixed"`
			LastAffected string `json:"last_affected"`
		} `json:"events"`
	} `json:"ranges"`
	Versions      []string `json:"versions"`
	EcosystemSpec struct {
		// Debian and Ubuntu OSV records carry the distribution's urgency.
		Urgency  string `json:"urgency"`
		Severity string `json:"severity"`
	} `json:"ecosystem_specific"`
	DBSpec struct {
		Severity string `json:"severity"`
	} `json:"database_specific"`
}

// DecodeOSV converts one OSV record. The "modified" time may be the zero
// time (repository copies of the Go database carry it); GIT ranges are
// dropped.
func DecodeOSV(raw []byte) (Advisory, error) {
	var r osvRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return Advisory{}, fmt.Errorf("osv: %w", err)
	}
	if strings.TrimSpace(r.ID) == "" {
		return Advisory{}, errors.New("osv: record without id")
	}
	a := Advisory{ID: r.ID, Source: SourceOSV, Summary: r.Summary, Details: r.Details,
		Aliases: r.Aliases, Hash: contentHash(raw)}
	var err error
	if a.Modified, err = parseTime(r.Modified); err != nil {
		return Advisory{}, fmt.Errorf("osv %s: modified: %w", r.ID, err)
	}
	if a.Published, err = parseTime(r.Published); err != nil {
		return Advisory{}, fmt.Errorf("osv %s: published: %w", r.ID, err)
	}
	if r.Withdrawn != "" {
		w, err := parseTime(r.Withdrawn)
		if err != nil {
			return Advisory{}, fmt.Errorf("osv %s: withdrawn: %w", r.ID, err)
		}
		a.Withdrawn = &w
	}
	a.Severity, a.CVSS = severityOf(r.Severity, r.DBSpec.Severity)
	standard := map[string]bool{} // Ubuntu releases with a standard (non-Pro) entry
	for _, af := range r.Affected {
		if eco, pro := ubuntuEcosystem(af.Package.Ecosystem); eco != "" && !pro {
			standard[eco+"\x00"+af.Package.Name] = true
		}
	}
	for _, af := range r.Affected {
		if af.Package.Name == "" || af.Package.Ecosystem == "" {
			continue
		}
		eco := af.Package.Ecosystem
		if u, pro := ubuntuEcosystem(eco); u != "" {
			if pro && standard[u+"\x00"+af.Package.Name] {
				continue // the release's own entry applies to a standard install
			}
			eco = u
		}
		e := Affected{Ecosystem: eco, Name: af.Package.Name, Versions: af.Versions}
		for _, rg := range af.Ranges {
			if rg.Type != "ECOSYSTEM" && rg.Type != "SEMVER" {
				continue
			}
			out := Range{Type: rg.Type}
			for _, ev := range rg.Events {
				out.Events = append(out.Events, Event{Introduced: ev.Introduced, Fixed: ev.Fixed, LastAffected: ev.LastAffected})
			}
			e.Ranges = append(e.Ranges, out)
		}
		switch {
		case len(af.Severity) > 0:
			e.Severity, _ = severityOf(af.Severity, "")
		case af.EcosystemSpec.Urgency != "":
			e.Severity = severityFromRating(af.EcosystemSpec.Urgency)
		case af.EcosystemSpec.Severity != "":
			e.Severity = severityFromRating(af.EcosystemSpec.Severity)
		case af.DBSpec.Severity != "":
			e.Severity = severityFromRating(af.DBSpec.Severity)
		}
		a.Affected = append(a.Affected, e)
	}
	a.Links = osvLinks(r)
	return a, nil
}

// severityOf picks the first CVSS v3 vector, else v4, else v2, and maps its
// base score; without a usable vector it falls back to the textual rating.
func severityOf(sevs []osvSev, rating string) (Severity, *CVSS) {
	for _, want := range []string{"CVSS_V3", "CVSS_V4", "CVSS_V2"} {
		for _, s := range sevs {
			if s.Type != want {
				continue
			}
			if score, ok := ScoreVector(s.Score); ok {
				return SeverityFromScore(score), &CVSS{Vector: s.Score, Score: score}
			}
		}
	}
	if rating != "" {
		return severityFromRating(rating), nil
	}
	return SeverityUnknown, nil
}

// osvLinks: the database's own page, advisories from the references, then a
// CVE record link for each CVE alias not already linked.
func osvLinks(r osvRecord) []string {
	var links []string
	add := func(u string) {
		u = strings.TrimSpace(u)
		if u == "" || strings.ContainsAny(u, " \t\n") {
			return
		}
		for _, l := range links {
			if l == u {
				return
			}
		}
		links = append(links, u)
	}
	if r.DBSpec.URL != "" {
		add(r.DBSpec.URL)
	} else {
		add("https://osv.dev/vulnerability/" + r.ID)
	}
	for _, ref := range r.Refs {
		if ref.Type == "ADVISORY" {
			add(ref.URL)
		}
	}
	for _, al := range append([]string{r.ID}, r.Aliases...) {
		if strings.HasPrefix(al, "CVE-") && !strings.Contains(strings.Join(links, " "), al) {
			add("https://www.cve.org/CVERecord?id=" + al)
		}
	}
	return links
}

// parseTime reads an RFC 3339 time; empty is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// ubuntuEcosystem maps the OSV names of Ubuntu releases ("Ubuntu:22.04:LTS",
// "Ubuntu:24.10", "Ubuntu:Pro:18.04:LTS", "Ubuntu:Pro:FIPS:20.04:LTS") to the
// ecosystem the scanner queries ("Ubuntu:<VERSION_ID>"), and says whether the
// entry is for Ubuntu Pro (ESM) packages. Other ecosystems give "".
func ubuntuEcosystem(e string) (eco string, pro bool) {
	parts := strings.Split(e, ":")
	if len(parts) < 2 || parts[0] != "Ubuntu" {
		return "", false
	}
	for _, p := range parts[1:] {
		if p == "Pro" || p == "FIPS" || p == "FIPS-updates" || p == "FIPS-preview" {
			pro = true
			continue
		}
		if p == "LTS" {
			continue
		}
		if eco != "" {
			return "", false // an unknown shape: leave it as published
		}
		eco = "Ubuntu:" + p
	}
	return eco, pro
}
