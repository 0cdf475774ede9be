package oci_test

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

var referenceCases = []struct {
	name    string
	in      string
	tag     string
	digest  digest.Digest
	errCode core.Code // meaningful when tag and digest are empty
}{
	{"tag", "latest", "latest", "", 0},
	{"semver tag", "v1.2.3-rc.1", "v1.2.3-rc.1", "", 0},
	{"max tag", strings.Repeat("t", 128), strings.Repeat("t", 128), "", 0},
	{"sha256", sha256Empty, "", digest.Digest(sha256Empty), 0},
	{"sha512", sha512Abc, "", digest.Digest(sha512Abc), 0},
	{"empty", "", "", "", core.CodeTagInvalid},
	{"long tag", strings.Repeat("t", 129), "", "", core.CodeTagInvalid},
	{"bad tag", "-latest", "", "", core.CodeTagInvalid},
	{"slash", "a/b", "", "", core.CodeTagInvalid},
	{"short digest", "sha256:abc", "", "", core.CodeDigestInvalid},
	{"sha384", sha384Abc, "", "", core.CodeDigestInvalid},
	{"colon only", ":", "", "", core.CodeDigestInvalid},
	{"tag with colon", "latest:1", "", "", core.CodeDigestInvalid},
	{"uppercase digest", strings.ToUpper(sha256Empty), "", "", core.CodeDigestInvalid},
}

func TestParseReference(t *testing.T) {
	for _, tc := range referenceCases {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := oci.ParseReference(tc.in)
			if tc.tag == "" && tc.digest == "" {
				wantCode(t, err, tc.errCode)
				if ref != (oci.Reference{}) {
					t.Errorf("got %+v with an error", ref)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseReference(%q): %v", tc.in, err)
			}
			if ref.Tag != tc.tag || ref.Digest != tc.digest {
				t.Errorf("got %+v, want tag %q digest %q", ref, tc.tag, tc.digest)
			}
			if ref.IsDigest() != (tc.digest != "") {
				t.Errorf("IsDigest() = %v", ref.IsDigest())
			}
			if ref.String() != tc.in {
				t.Errorf("String() = %q, want %q", ref.String(), tc.in)
			}
		})
	}
}

// FuzzParseReference covers tags and digests: an accepted reference is exactly
// one of them, round-trips through String, and passes the matching validator.
func FuzzParseReference(f *testing.F) {
	for _, tc := range referenceCases {
		f.Add(tc.in)
	}
	f.Add("sha256:" + strings.Repeat("0", 64))
	f.Add("sha512:" + strings.Repeat("f", 128))
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := oci.ParseReference(s)
		if err != nil {
			switch c := core.CodeOf(err); c {
			case core.CodeTagInvalid, core.CodeDigestInvalid:
			default:
				t.Fatalf("ParseReference(%q): unexpected code %v (%v)", s, c, err)
			}
			if ref != (oci.Reference{}) {
				t.Fatalf("ParseReference(%q) returned %+v with an error", s, ref)
			}
			return
		}
		if (ref.Tag == "") == (ref.Digest == "") {
			t.Fatalf("ParseReference(%q) = %+v: want exactly one of tag and digest", s, ref)
		}
		if ref.String() != s {
			t.Fatalf("String() = %q, want %q", ref.String(), s)
		}
		if ref.IsDigest() {
			d, err := oci.ParseDigest(s)
			if err != nil || d != ref.Digest {
				t.Fatalf("digest reference %q does not re-parse: %v", s, err)
			}
			if err := ref.Digest.Validate(); err != nil {
				t.Fatalf("digest %q does not validate: %v", s, err)
			}
			if a := ref.Digest.Algorithm(); a != digest.SHA256 && a != digest.SHA512 {
				t.Fatalf("accepted algorithm %q", a)
			}
			return
		}
		if strings.Contains(s, ":") {
			t.Fatalf("tag %q contains ':'", s)
		}
		if err := oci.ValidateTag(ref.Tag); err != nil {
			t.Fatalf("tag %q does not validate: %v", s, err)
		}
	})
}
