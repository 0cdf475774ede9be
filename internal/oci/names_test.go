package oci_test

import (
	"strings"
	"testing"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

var validNames = []string{
	"a",
	"0",
	"ubuntu",
	"library/ubuntu",
	"a/b/c/d",
	"my-org/my-repo",
	"a--b",
	"a---b",
	"a_b",
	"a__b",
	"a.b",
	"a1/b2.c3_d4-e5",
	"quay.io/org/repo",
	strings.Repeat("a", 255),
	strings.Repeat("a", 127) + "/" + strings.Repeat("b", 127),
}

var invalidNames = []string{
	"",
	"A",
	"Library/ubuntu",
	"a/B",
	"/a",
	"a/",
	"a//b",
	"-a",
	"a-",
	"_a",
	"a_",
	".a",
	"a.",
	"a___b",
	"a..b",
	"a._b",
	"a-.b",
	"a/../b",
	"a/./b",
	"..",
	"a b",
	"a:b",
	"a@b",
	"a\x00",
	"a\n",
	"é",
	"a/é",
	"a+b",
	strings.Repeat("a", 256),
	strings.Repeat("a", 128) + "/" + strings.Repeat("b", 127),
	strings.Repeat("a", 10000),
}

func TestValidateName(t *testing.T) {
	for _, name := range validNames {
		if err := oci.ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q): %v", name, err)
		}
	}
	for _, name := range invalidNames {
		err := oci.ValidateName(name)
		if err == nil {
			t.Errorf("ValidateName(%q) accepted an invalid name", name)
			continue
		}
		wantCode(t, err, core.CodeNameInvalid)
	}
}

func TestValidateTag(t *testing.T) {
	tests := []struct {
		tag string
		ok  bool
	}{
		{"latest", true},
		{"v1.0.0", true},
		{"1", true},
		{"_private", true},
		{"UPPER-case_mix.1", true},
		{"a--b..c__d", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{".hidden", false},
		{"-dash", false},
		{"a/b", false},
		{"a:b", false},
		{"sha256:abc", false},
		{"a b", false},
		{"a\n", false},
		{"\nlatest", false},
		{"a\x00", false},
		{"é", false},
		{"a+b", false},
		{"a@b", false},
	}
	for _, tc := range tests {
		err := oci.ValidateTag(tc.tag)
		if tc.ok {
			if err != nil {
				t.Errorf("ValidateTag(%q): %v", tc.tag, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ValidateTag(%q) accepted an invalid tag", tc.tag)
			continue
		}
		wantCode(t, err, core.CodeTagInvalid)
	}
}

func TestSplitName(t *testing.T) {
	tests := []struct {
		name, ns, repo string
	}{
		{"ubuntu", "library", "ubuntu"},
		{"org/repo", "org", "repo"},
		{"org/team/repo", "org", "team/repo"},
		{"a/b/c/d", "a", "b/c/d"},
		{"library/ubuntu", "library", "ubuntu"},
	}
	for _, tc := range tests {
		ns, repo := oci.SplitName(tc.name)
		if ns != tc.ns || repo != tc.repo {
			t.Errorf("SplitName(%q) = %q, %q; want %q, %q", tc.name, ns, repo, tc.ns, tc.repo)
		}
	}
}

// FuzzValidateName checks that every accepted name is well-formed and splits
// into a valid namespace and repository path.
func FuzzValidateName(f *testing.F) {
	for _, n := range validNames {
		f.Add(n)
	}
	for _, n := range invalidNames {
		f.Add(n)
	}
	f.Add(strings.Repeat("\xff", 300))
	f.Fuzz(func(t *testing.T, name string) {
		err := oci.ValidateName(name)
		if err != nil {
			if c := core.CodeOf(err); c != core.CodeNameInvalid {
				t.Fatalf("ValidateName(%q): code %v, want name invalid", name, c)
			}
			// The name is truncated to 80 bytes, each quoted as at most 4.
			if len(err.Error()) > 80*4+100 {
				t.Fatalf("error message not truncated: %d bytes", len(err.Error()))
			}
			return
		}
		if name == "" || len(name) > oci.MaxNameLength {
			t.Fatalf("accepted name of length %d", len(name))
		}
		if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
			t.Fatalf("accepted name with an empty component: %q", name)
		}
		for _, c := range name {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("._-/", c)) {
				t.Fatalf("accepted name %q with character %q", name, c)
			}
		}
		for _, comp := range strings.Split(name, "/") {
			if err := oci.ValidateName(comp); err != nil {
				t.Fatalf("component %q of accepted name %q is invalid: %v", comp, name, err)
			}
		}
		ns, repo := oci.SplitName(name)
		if ns == "" || repo == "" || strings.Contains(ns, "/") {
			t.Fatalf("SplitName(%q) = %q, %q", name, ns, repo)
		}
		if ns+"/"+repo != name && !(ns == "library" && repo == name) {
			t.Fatalf("SplitName(%q) = %q, %q does not rebuild the name", name, ns, repo)
		}
		if err := oci.ValidateName(repo); err != nil {
			t.Fatalf("repository path %q of %q is invalid: %v", repo, name, err)
		}
	})
}
