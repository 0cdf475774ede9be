package oci

import (
	_ "crypto/sha256" // register sha256 with go-digest
	_ "crypto/sha512" // register sha512 and sha384 with go-digest
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
)

// ParseDigest parses and validates a digest string, accepting only algorithms the
// registry can verify (sha256, sha512).
func ParseDigest(s string) (digest.Digest, error) {
	if len(s) > 200 {
		return "", core.Errorf(core.CodeDigestInvalid, "invalid digest: too long")
	}
	d := digest.Digest(s)
	if err := d.Validate(); err != nil {
		if strings.Contains(s, ":") && err == digest.ErrDigestUnsupported {
			return "", core.Errorf(core.CodeDigestInvalid, "unsupported digest algorithm %q", d.Algorithm())
		}
		return "", core.Errorf(core.CodeDigestInvalid, "invalid digest %q", truncate(s, 80))
	}
	switch d.Algorithm() {
	case digest.SHA256, digest.SHA512:
		return d, nil
	default:
		return "", core.Errorf(core.CodeDigestInvalid, "unsupported digest algorithm %q", d.Algorithm())
	}
}

// IsDigest reports whether s looks like a digest reference (algorithm:encoded).
func IsDigest(s string) bool { return strings.Contains(s, ":") }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
