package oci_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

// wantCode fails the test unless err is a *core.Error with the given code.
func wantCode(t *testing.T, err error, code core.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %v", code)
	}
	var ce *core.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *core.Error", err, err)
	}
	if ce.Code != code {
		t.Fatalf("error %q has code %v, want %v", err, ce.Code, code)
	}
	if ce.Msg == "" {
		t.Fatalf("error with code %v has no client message", code)
	}
}

var (
	sha256Empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	sha512Abc   = string(digest.SHA512.FromString("abc"))
	sha384Abc   = string(digest.SHA384.FromString("abc"))
)

func TestParseDigest(t *testing.T) {
	hex64 := strings.Repeat("a", 64)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"sha256", sha256Empty, true},
		{"sha256 computed", string(digest.FromString("hello")), true},
		{"sha512", sha512Abc, true},
		{"sha384 unsupported", sha384Abc, false},
		{"md5 unknown algorithm", "md5:d41d8cd98f00b204e9800998ecf8427e", false},
		{"uppercase algorithm", "SHA256:" + hex64, false},
		{"uppercase hex", "sha256:" + strings.Repeat("A", 64), false},
		{"short hex", "sha256:" + strings.Repeat("a", 63), false},
		{"long hex", "sha256:" + strings.Repeat("a", 65), false},
		{"sha512 length with sha256 name", "sha256:" + strings.Repeat("a", 128), false},
		{"non hex", "sha256:" + strings.Repeat("g", 64), false},
		{"empty encoded", "sha256:", false},
		{"empty algorithm", ":" + hex64, false},
		{"empty", "", false},
		{"no separator", "sha256" + hex64, false},
		{"just colon", ":", false},
		{"two colons", "sha256:" + hex64 + ":", false},
		{"leading space", " sha256:" + hex64, false},
		{"trailing newline", "sha256:" + hex64 + "\n", false},
		{"algorithm with component", "sha256+b64:" + hex64, false},
		{"too long", "sha256:" + strings.Repeat("a", 200), false},
		{"tag-like", "latest", false},
		{"nul byte", "sha256:" + hex64[:63] + "\x00", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := oci.ParseDigest(tc.in)
			if !tc.ok {
				wantCode(t, err, core.CodeDigestInvalid)
				if d != "" {
					t.Errorf("got digest %q with an error", d)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDigest(%q): %v", tc.in, err)
			}
			if string(d) != tc.in {
				t.Errorf("got %q, want %q", d, tc.in)
			}
			if err := d.Validate(); err != nil {
				t.Errorf("parsed digest does not validate: %v", err)
			}
		})
	}
}

func TestParseDigestMessageIsTruncated(t *testing.T) {
	in := "sha256:" + strings.Repeat("z", 180)
	_, err := oci.ParseDigest(in)
	wantCode(t, err, core.CodeDigestInvalid)
	if len(err.Error()) > 150 {
		t.Errorf("error message is %d bytes; untrusted input should be truncated: %q", len(err.Error()), err)
	}
}

func TestIsDigest(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{sha256Empty, true},
		{"a:b", true},
		{"latest", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := oci.IsDigest(tc.in); got != tc.want {
			t.Errorf("IsDigest(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
