package oci_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

func TestVerifyManifest(t *testing.T) {
	img := mustJSON(t, obj{"schemaVersion": 2, "mediaType": oci.MediaTypeOCIManifest,
		"config": desc(mtConfig, configDigest, 10), "layers": []any{desc(mtLayer, layerA, 5)}})
	sha512 := digest.SHA512.FromBytes(img)
	tooLarge := make([]byte, oci.MaxManifestSize+1)
	cases := []struct {
		name     string
		raw      []byte
		ct       string
		want     digest.Digest
		code     core.Code
		fails    bool
		wantDgst digest.Digest
	}{
		{name: "by tag: canonical digest", raw: img, wantDgst: digest.FromBytes(img)},
		{name: "by digest", raw: img, want: digest.FromBytes(img), wantDgst: digest.FromBytes(img)},
		{name: "by sha512 digest", raw: img, want: sha512, wantDgst: sha512},
		{name: "digest mismatch", raw: img, want: digest.FromString("other"), code: core.CodeDigestInvalid, fails: true},
		{name: "malformed digest", raw: img, want: "sha256:xyz", code: core.CodeDigestInvalid, fails: true},
		{name: "unknown algorithm", raw: img, want: "md5:d41d8cd98f00b204e9800998ecf8427e", code: core.CodeDigestInvalid, fails: true},
		{name: "too large", raw: tooLarge, code: core.CodeTooLarge, fails: true},
		{name: "too large by digest", raw: tooLarge, want: digest.FromBytes(tooLarge), code: core.CodeTooLarge, fails: true},
		{name: "not a manifest", raw: []byte(`{"schemaVersion":1}`), code: core.CodeManifestInvalid, fails: true},
		{name: "content type disagrees", raw: img, ct: oci.MediaTypeOCIIndex, code: core.CodeManifestInvalid, fails: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, d, err := oci.VerifyManifest(tc.raw, tc.ct, tc.want)
			if tc.fails {
				if !core.IsCode(err, tc.code) {
					t.Fatalf("err = %v, want code %s", err, tc.code)
				}
				if m != nil || d != "" {
					t.Fatal("a manifest returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d != tc.wantDgst || m.MediaType != oci.MediaTypeOCIManifest || len(m.Layers) != 1 {
				t.Fatalf("got %s %+v, want digest %s", d, m, tc.wantDgst)
			}
		})
	}
}

func TestLabelConfig(t *testing.T) {
	cfg := func(mt string, size int64) *oci.Manifest {
		return &oci.Manifest{MediaType: oci.MediaTypeOCIManifest, Config: &oci.Descriptor{MediaType: mt, Digest: configDigest, Size: size}}
	}
	cases := []struct {
		name string
		m    *oci.Manifest
		want bool
	}{
		{"oci config", cfg(mtConfig, 100), true},
		{"docker config", cfg(mtDockerCfg, 100), true},
		{"largest config", cfg(mtConfig, oci.MaxLabelConfigSize), true},
		{"config too large", cfg(mtConfig, oci.MaxLabelConfigSize+1), false},
		{"artifact config", cfg("application/vnd.dev.cosign.artifact.sig.v1+json", 100), false},
		{"index", &oci.Manifest{MediaType: oci.MediaTypeOCIIndex}, false},
		{"no config", &oci.Manifest{MediaType: oci.MediaTypeOCIManifest}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := oci.LabelConfig(tc.m)
			if ok != tc.want || (ok && d.Digest != configDigest) {
				t.Fatalf("LabelConfig = %v, %v; want %v", d, ok, tc.want)
			}
		})
	}
}

func TestConfigLabels(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"labels", `{"config":{"Labels":{"quay.expires-after":"2w","maintainer":"x"}}}`,
			map[string]string{"quay.expires-after": "2w", "maintainer": "x"}},
		{"no labels", `{"config":{}}`, nil},
		{"no config", `{"architecture":"amd64"}`, nil},
		{"null labels", `{"config":{"Labels":null}}`, nil},
		{"not JSON", `not json`, nil},
		{"labels of the wrong type", `{"config":{"Labels":["a"]}}`, nil},
		{"empty", ``, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := oci.ConfigLabels(strings.NewReader(tc.in)); !maps.Equal(got, tc.want) {
				t.Fatalf("ConfigLabels = %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzConfigLabels(f *testing.F) {
	f.Add([]byte(`{"config":{"Labels":{"quay.immutable":"true"}}}`))
	f.Add([]byte(`{"config":{"Labels":{}}}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		labels := oci.ConfigLabels(strings.NewReader(string(b)))
		dst := map[string]string{}
		oci.QuayLabels(dst, labels)
		for k := range dst {
			if !strings.HasPrefix(k, core.LabelPrefix) {
				t.Fatalf("kept %q", k)
			}
		}
	})
}

func FuzzVerifyManifest(f *testing.F) {
	img := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":` +
		`{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + string(configDigest) + `","size":1},"layers":[]}`)
	f.Add(img, "", "")
	f.Add(img, "", string(digest.FromBytes(img)))
	f.Add(img, oci.MediaTypeOCIManifest, "sha256:00")
	f.Fuzz(func(t *testing.T, raw []byte, ct, want string) {
		m, d, err := oci.VerifyManifest(raw, ct, digest.Digest(want))
		if err != nil {
			switch c := core.CodeOf(err); c {
			case core.CodeManifestInvalid, core.CodeUnsupported, core.CodeTooLarge, core.CodeDigestInvalid:
			default:
				t.Fatalf("unexpected code %v: %v", c, err)
			}
			return
		}
		if m == nil || d.Validate() != nil || d.Algorithm().FromBytes(raw) != d || (want != "" && d != digest.Digest(want)) {
			t.Fatalf("accepted %q as %s (want %q)", raw, d, want)
		}
	})
}

// opener serves blobs from a map; missing ones are core.CodeBlobUnknown.
type opener map[digest.Digest]string

func (o opener) open(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
	if d == "fail" {
		return nil, errors.New("storage down")
	}
	s, ok := o[d]
	if !ok {
		return nil, core.Errorf(core.CodeBlobUnknown, "blob %s unknown", d)
	}
	return io.NopCloser(strings.NewReader(s)), nil
}

func TestManifestLabels(t *testing.T) {
	image := func(cfg digest.Digest, ann map[string]string) *oci.Manifest {
		return &oci.Manifest{MediaType: oci.MediaTypeOCIManifest, Annotations: ann,
			Config: &oci.Descriptor{MediaType: mtConfig, Digest: cfg, Size: 10}}
	}
	blobs := opener{
		configDigest: `{"config":{"Labels":{"quay.expires-after":"1d","quay.immutable":"true","other":"x"}}}`,
		layerA:       `not json`,
	}
	cases := []struct {
		name string
		m    *oci.Manifest
		want map[string]string
		err  bool
	}{
		{"config labels, only quay.*", image(configDigest, nil),
			map[string]string{"quay.expires-after": "1d", "quay.immutable": "true"}, false},
		{"annotations overlay the config", image(configDigest, map[string]string{"quay.expires-after": "2w", "org.x": "y"}),
			map[string]string{"quay.expires-after": "2w", "quay.immutable": "true"}, false},
		{"config not stored", image(layerB, map[string]string{"quay.immutable": "true"}),
			map[string]string{"quay.immutable": "true"}, false},
		{"config not JSON", image(layerA, nil), map[string]string{}, false},
		{"index: annotations only", &oci.Manifest{MediaType: oci.MediaTypeOCIIndex, Annotations: map[string]string{"quay.expires-after": "3h"}},
			map[string]string{"quay.expires-after": "3h"}, false},
		{"storage failure", image("fail", nil), nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := oci.ManifestLabels(t.Context(), tc.m, blobs.open)
			if tc.err {
				if err == nil {
					t.Fatal("a storage failure was ignored")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("labels = %v, want %v", got, tc.want)
			}
		})
	}
}
