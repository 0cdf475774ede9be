package core

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Image labels that act on the tags a push creates, as Quay reads them from
// the image config's Labels and the manifest's annotations.
const (
	// LabelExpiresAfter ends the pushed tags after a duration ("2w").
	LabelExpiresAfter = "quay.expires-after"
	// LabelImmutable makes the pushed tags immutable when "true".
	LabelImmutable = "quay.immutable"
	// LabelPrefix is the prefix of the labels Wharf keeps per manifest.
	LabelPrefix = "quay."
)

// ParseExpiresAfter parses a quay.expires-after value: a positive whole
// number followed by s, m, h, d, w or y (365 days), as Quay's
// convert_to_timedelta. ok is false for anything else.
func ParseExpiresAfter(v string) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if len(v) < 2 {
		return 0, false
	}
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour,
		'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour, 'y': 365 * 24 * time.Hour}
	unit, known := units[v[len(v)-1]]
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if !known || err != nil || n <= 0 || n > int64((1<<63-1)/unit) {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// LabelSaysImmutable reports whether a quay.immutable value asks for an
// immutable tag.
func LabelSaysImmutable(v string) bool { return strings.EqualFold(strings.TrimSpace(v), "true") }

// Registry-wide states (Quay's REGISTRY_STATE).
const (
	RegistryStateNormal   = "normal"
	RegistryStateReadOnly = "readonly"
)

// ImmutabilityPolicy makes tags of a namespace or of one repository
// immutable by name: with TagPatternMatches, the tags whose whole name
// matches TagPattern (a regular expression); without, those that do not.
type ImmutabilityPolicy struct {
	UUID              string
	Namespace         string
	Repository        string // full name; empty for a namespace-wide policy
	TagPattern        string
	TagPatternMatches bool
}

// MaxTagPatternLength bounds a policy's pattern, as Quay does.
const MaxTagPatternLength = 256

// CompileTagPattern compiles a policy pattern so that it must match a whole
// tag name. An invalid pattern is CodeInvalid.
func CompileTagPattern(pattern string) (*regexp.Regexp, error) {
	if strings.TrimSpace(pattern) == "" {
		return nil, Errorf(CodeInvalid, "tagPattern is required and must be a non-empty string")
	}
	if len(pattern) > MaxTagPatternLength {
		return nil, Errorf(CodeInvalid, "tagPattern must be %d characters or less", MaxTagPatternLength)
	}
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, Errorf(CodeInvalid, "invalid regex pattern: %v", err)
	}
	return re, nil
}

// Describe names the policy for error messages.
func (p ImmutabilityPolicy) Describe() string {
	scope := "organization"
	if p.Repository != "" {
		scope = "repository"
	}
	how := "matching"
	if !p.TagPatternMatches {
		how = "not matching"
	}
	return fmt.Sprintf("%s immutability policy %s (tags %s \"%s\")", scope, p.UUID, how, p.TagPattern)
}

// ImmutabilityRules are the compiled policies that apply to one repository:
// its own and its namespace's.
type ImmutabilityRules struct {
	rules []compiledPolicy
}

type compiledPolicy struct {
	p  ImmutabilityPolicy
	re *regexp.Regexp
}

// NewImmutabilityRules compiles policies, in order (a policy that no longer
// compiles matches nothing).
func NewImmutabilityRules(ps []ImmutabilityPolicy) ImmutabilityRules {
	var r ImmutabilityRules
	for _, p := range ps {
		if re, err := CompileTagPattern(p.TagPattern); err == nil {
			r.rules = append(r.rules, compiledPolicy{p: p, re: re})
		}
	}
	return r
}

// Match returns the first policy that makes tag immutable.
func (r ImmutabilityRules) Match(tag string) (ImmutabilityPolicy, bool) {
	for _, c := range r.rules {
		if c.re.MatchString(tag) == c.p.TagPatternMatches {
			return c.p, true
		}
	}
	return ImmutabilityPolicy{}, false
}

// ImmutableReason says why a current tag is immutable ("" when it is not):
// its own flag, or the first matching policy.
func (r ImmutabilityRules) ImmutableReason(tag string, flag bool) string {
	if flag {
		return "the tag is marked immutable"
	}
	if p, ok := r.Match(tag); ok {
		return "it matches the " + p.Describe()
	}
	return ""
}

// ErrTagImmutable is the error for an operation refused on an immutable tag;
// reason names the rule (ImmutableReason).
func ErrTagImmutable(tag, operation, reason string) error {
	return &Error{Code: CodeTagImmutable,
		Msg:    fmt.Sprintf("cannot %s immutable tag %q: %s", operation, tag, reason),
		Detail: map[string]string{"tag": tag, "rule": reason}}
}
