package oci

import (
	"github.com/opencontainers/go-digest"
)

// Reference is the <reference> of a manifest route: a tag or a digest.
type Reference struct {
	Tag    string
	Digest digest.Digest
}

// IsDigest reports whether the reference names a digest.
func (r Reference) IsDigest() bool { return r.Digest != "" }

func (r Reference) String() string {
	if r.Digest != "" {
		return string(r.Digest)
	}
	return r.Tag
}

// ParseReference parses a manifest reference: a digest when it contains ':',
// otherwise a tag.
func ParseReference(s string) (Reference, error) {
	if IsDigest(s) {
		d, err := ParseDigest(s)
		if err != nil {
			return Reference{}, err
		}
		return Reference{Digest: d}, nil
	}
	if err := ValidateTag(s); err != nil {
		return Reference{}, err
	}
	return Reference{Tag: s}, nil
}
