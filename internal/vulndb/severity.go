package vulndb

import (
	"math"
	"strings"

	cvss20 "github.com/pandatix/go-cvss/20"
	cvss30 "github.com/pandatix/go-cvss/30"
	cvss31 "github.com/pandatix/go-cvss/31"
	cvss40 "github.com/pandatix/go-cvss/40"
)

// Severity is one of Quay's six levels.
type Severity string

// Quay's severity levels, lowest first.
const (
	SeverityUnknown    Severity = "Unknown"
	SeverityNegligible Severity = "Negligible"
	SeverityLow        Severity = "Low"
	SeverityMedium     Severity = "Medium"
	SeverityHigh       Severity = "High"
	SeverityCritical   Severity = "Critical"
)

// Severities lists the levels from lowest to highest.
var Severities = []Severity{SeverityUnknown, SeverityNegligible, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Rank orders severities: Unknown 0 … Critical 5; -1 for anything else.
func (s Severity) Rank() int {
	for i, x := range Severities {
		if x == s {
			return i
		}
	}
	return -1
}

// ParseSeverity reads a level by name, case-insensitively.
func ParseSeverity(s string) (Severity, bool) {
	for _, x := range Severities {
		if strings.EqualFold(string(x), strings.TrimSpace(s)) {
			return x, true
		}
	}
	return "", false
}

// SeverityFromScore maps a CVSS base score the way Quay does: 0 < s < 4 Low,
// < 7 Medium, < 9 High, up to 10 Critical; anything else is Unknown.
func SeverityFromScore(score float64) Severity {
	switch {
	case math.IsNaN(score) || score <= 0 || score > 10:
		return SeverityUnknown
	case score < 4:
		return SeverityLow
	case score < 7:
		return SeverityMedium
	case score < 9:
		return SeverityHigh
	default:
		return SeverityCritical
	}
}

// ScoreVector computes the base score of a CVSS v2, v3.0, v3.1 or v4.0
// vector. ok is false for anything it cannot parse.
func ScoreVector(vector string) (score float64, ok bool) {
	vector = strings.TrimSpace(vector)
	switch {
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		v, err := cvss31.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return v.BaseScore(), true
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		v, err := cvss30.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return v.BaseScore(), true
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		v, err := cvss40.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return v.Score(), true
	case strings.HasPrefix(vector, "AV:"):
		v, err := cvss20.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return v.BaseScore(), true
	}
	return 0, false
}

// severityFromRating maps the textual ratings the feeds use: GitHub's
// (LOW, MODERATE, HIGH, CRITICAL), Red Hat's impacts (Low, Moderate,
// Important, Critical), the Debian tracker's urgencies (unimportant, low,
// medium, high, with "*" marks) and Quay's own names.
func severityFromRating(r string) Severity {
	r = strings.ToLower(strings.TrimRight(strings.TrimSpace(r), "*"))
	switch r {
	case "unimportant", "negligible":
		return SeverityNegligible
	case "low":
		return SeverityLow
	case "moderate", "medium":
		return SeverityMedium
	case "high", "important":
		return SeverityHigh
	case "critical":
		return SeverityCritical
	}
	return SeverityUnknown
}
