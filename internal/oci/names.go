package oci

import (
	"regexp"
	"strings"

	"github.com/wharfhq/wharf/internal/core"
)

// MaxNameLength bounds a repository name (namespace included), as Quay and
// distribution do.
const MaxNameLength = 255

var (
	// pathComponent is one slash-separated component of a repository name
	// (OCI distribution spec).
	nameRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRe  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// ValidateName checks a repository name against the distribution spec grammar.
func ValidateName(name string) error {
	if name == "" {
		return core.Errorf(core.CodeNameInvalid, "repository name must not be empty")
	}
	if len(name) > MaxNameLength {
		return core.Errorf(core.CodeNameInvalid, "repository name longer than %d characters", MaxNameLength)
	}
	if !nameRe.MatchString(name) {
		return core.Errorf(core.CodeNameInvalid, "invalid repository name %q", truncate(name, 80))
	}
	return nil
}

// ValidateTag checks a tag against the distribution spec grammar.
func ValidateTag(tag string) error {
	if !tagRe.MatchString(tag) {
		return core.Errorf(core.CodeTagInvalid, "invalid tag %q", truncate(tag, 80))
	}
	return nil
}

// SplitName splits a repository name into its namespace (first component) and
// the rest. A one-component name lives in the "library" namespace, as on Docker
// Hub and Quay.
func SplitName(name string) (namespace, repo string) {
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return "library", name
}

// namespaceRe is Quay's rule for user and organization names.
var namespaceRe = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// ValidateNamespace checks a user or organization name against Quay's rule:
// 2 to 255 characters of [a-z0-9] separated by single '.', '_' or '-'.
func ValidateNamespace(name string) error {
	if len(name) < 2 || len(name) > 255 || !namespaceRe.MatchString(name) {
		return core.Errorf(core.CodeInvalid, "invalid name %q: use 2-255 lowercase letters, digits and single . _ - between them", truncate(name, 80))
	}
	return nil
}
