package proxycache_test

import (
	"testing"

	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/proxycache"
)

func TestParseAccept(t *testing.T) {
	idx, man := oci.MediaTypeOCIIndex, oci.MediaTypeDockerManifest
	for _, tc := range []struct {
		header       string
		index, plain bool
	}{
		{"", true, true},
		{"not a media type ;;", true, true},
		{"*/*", true, true},
		{"application/*", true, true},
		{man, false, true},
		{man + ", " + idx, true, true},
		{"  " + man + " ;q=0.9 ,\t" + idx + ";q=0.5", true, true},
		{man + ", " + idx + ";q=0", false, true},
		{man + ", " + idx + ";q=0.0", false, true},
		{idx + ";q=0, */*", true, true}, // */* wins, as the upstream would read it
		{"text/html", false, false},
		{"application/json, " + man, false, true},
		{",,," + man + ",,", false, true},
	} {
		set := proxycache.ParseAccept(tc.header)
		if got := set.Accepts(idx); got != tc.index {
			t.Errorf("ParseAccept(%q).Accepts(index) = %v, want %v", tc.header, got, tc.index)
		}
		if got := set.Accepts(man); got != tc.plain {
			t.Errorf("ParseAccept(%q).Accepts(manifest) = %v, want %v", tc.header, got, tc.plain)
		}
	}
}

func FuzzParseAccept(f *testing.F) {
	for _, s := range []string{"", "*/*", oci.MediaTypeOCIIndex + ";q=0", "a/b, c/d; q=0.5", ";;,=", "application/*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		set := proxycache.ParseAccept(h)
		_ = set.Accepts(oci.MediaTypeDockerManifest)
		// A leading */* accepts every manifest kind whatever follows.
		if !proxycache.ParseAccept("*/*, " + h).Accepts(oci.MediaTypeOCIIndex) {
			t.Fatalf("*/*, %q does not accept an index", h)
		}
		// An index refused with q=0 and nothing broader is refused.
		if proxycache.ParseAccept(oci.MediaTypeOCIIndex + ";q=0").Accepts(oci.MediaTypeOCIIndex) {
			t.Fatal("q=0 accepted")
		}
	})
}
