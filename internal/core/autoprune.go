package core

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Auto-prune methods (Quay 3.13).
const (
	// PruneByNumberOfTags keeps the newest Value tags.
	PruneByNumberOfTags = "number_of_tags"
	// PruneByCreationDate prunes tags created longer ago than Value.
	PruneByCreationDate = "creation_date"
)

// AutoprunePolicy prunes the current tags of a namespace's repositories, or
// of one repository: with PruneByNumberOfTags all but the newest Count, with
// PruneByCreationDate those older than Age. With a TagPattern only the tags
// whose whole name matches it (TagPatternMatches) or does not match it are
// candidates. Immutable tags are never pruned and are not candidates.
type AutoprunePolicy struct {
	UUID              string
	Namespace         string
	Repository        string // full name; empty for a namespace-wide policy
	Method            string
	Value             string // as given: a count ("5") or a duration ("2w")
	TagPattern        string // empty: every tag
	TagPatternMatches bool
}

// ParseAutoprunePolicy validates method and value (a JSON number or string)
// and returns the policy with Value normalised, or CodeInvalid.
func ParseAutoprunePolicy(method string, value json.RawMessage, pattern string, matches bool) (AutoprunePolicy, error) {
	p := AutoprunePolicy{Method: method, TagPattern: strings.TrimSpace(pattern), TagPatternMatches: matches}
	var num json.Number
	var str string
	switch {
	case len(value) == 0 || string(value) == "null":
		return p, Errorf(CodeInvalid, "value is required")
	case json.Unmarshal(value, &str) == nil:
		p.Value = strings.TrimSpace(str)
	case json.Unmarshal(value, &num) == nil:
		p.Value = num.String()
	default:
		return p, Errorf(CodeInvalid, "value must be a number or a string")
	}
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, nil
}

// Validate checks the method, the value for it and the pattern.
func (p AutoprunePolicy) Validate() error {
	switch p.Method {
	case PruneByNumberOfTags:
		if _, ok := p.Count(); !ok {
			return Errorf(CodeInvalid, "value for number_of_tags must be a positive integer")
		}
	case PruneByCreationDate:
		if _, ok := p.Age(); !ok {
			return Errorf(CodeInvalid, "value for creation_date must be a duration such as 7d, 2w, 1m or 1y")
		}
	default:
		return Errorf(CodeInvalid, "method must be one of %s, %s", PruneByNumberOfTags, PruneByCreationDate)
	}
	if p.TagPattern != "" {
		if _, err := CompileTagPattern(p.TagPattern); err != nil {
			return err
		}
	}
	return nil
}

// Count is the number of tags a PruneByNumberOfTags policy keeps.
func (p AutoprunePolicy) Count() (int, bool) {
	n, err := strconv.Atoi(p.Value)
	return n, err == nil && n > 0 && p.Method == PruneByNumberOfTags
}

// Age is how old a tag of a PruneByCreationDate policy may get: s, m
// (minutes), h, d, w and y units, as Quay's time-delta strings.
func (p AutoprunePolicy) Age() (time.Duration, bool) {
	if p.Method != PruneByCreationDate {
		return 0, false
	}
	return ParseExpiresAfter(p.Value)
}

// JSONValue is the value as Quay shows it: a number for number_of_tags, a
// string for creation_date.
func (p AutoprunePolicy) JSONValue() any {
	if n, ok := p.Count(); ok {
		return n
	}
	return p.Value
}

// PruneCandidate is a current tag as auto-pruning sees it.
type PruneCandidate struct {
	Name    string
	Created time.Time
}

// SelectPruned returns the names of the candidates policy p prunes at now.
// Candidates are the prunable tags (immutable ones left out) of one
// repository; their order does not matter.
func (p AutoprunePolicy) SelectPruned(tags []PruneCandidate, now time.Time) []string {
	var re *regexp.Regexp
	if p.TagPattern != "" {
		var err error
		if re, err = CompileTagPattern(p.TagPattern); err != nil {
			return nil
		}
	}
	var in []PruneCandidate
	for _, t := range tags {
		if re == nil || re.MatchString(t.Name) == p.TagPatternMatches {
			in = append(in, t)
		}
	}
	var out []string
	switch p.Method {
	case PruneByNumberOfTags:
		keep, ok := p.Count()
		if !ok || len(in) <= keep {
			return nil
		}
		sortNewestFirst(in)
		for _, t := range in[keep:] {
			out = append(out, t.Name)
		}
	case PruneByCreationDate:
		age, ok := p.Age()
		if !ok {
			return nil
		}
		cutoff := now.Add(-age)
		for _, t := range in {
			if t.Created.Before(cutoff) {
				out = append(out, t.Name)
			}
		}
	}
	return out
}

// sortNewestFirst orders tags newest first; equal times by name, so the
// choice is stable.
func sortNewestFirst(ts []PruneCandidate) {
	sort.Slice(ts, func(i, j int) bool { return newer(ts[i], ts[j]) })
}

func newer(a, b PruneCandidate) bool {
	if !a.Created.Equal(b.Created) {
		return a.Created.After(b.Created)
	}
	return a.Name > b.Name
}
