package oci_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

var (
	configDigest = digest.FromString("config")
	layerA       = digest.FromString("layer a")
	layerB       = digest.FromString("layer b")
	foreignLayer = digest.FromString("foreign layer")
	childA       = digest.FromString("child a")
	childB       = digest.FromString("child b")
	subjectD     = digest.FromString("subject")
)

const (
	mtConfig     = "application/vnd.oci.image.config.v1+json"
	mtLayer      = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtDockerCfg  = "application/vnd.docker.container.image.v1+json"
	mtDockerLyr  = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mtForeign    = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	mtNonDist    = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	mtSBOM       = "application/vnd.example.sbom.v1"
	mtSignature  = "application/vnd.example.signature.v1+json"
	mtUnknownMan = "application/vnd.example.manifest.v9+json"
)

type obj = map[string]any

func desc(mt string, d digest.Digest, size int64) obj {
	return obj{"mediaType": mt, "digest": string(d), "size": size}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// with returns a copy of m with the given keys set (nil value: key removed).
func with(m obj, kv ...any) obj {
	out := obj{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
			continue
		}
		out[k] = kv[i+1]
	}
	return out
}

func ociImage() obj {
	return obj{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeOCIManifest,
		"config":        desc(mtConfig, configDigest, 123),
		"layers":        []any{desc(mtLayer, layerA, 1000), desc(mtLayer, layerB, 2000)},
		"annotations":   obj{"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
	}
}

func ociIndex() obj {
	a := desc(oci.MediaTypeOCIManifest, childA, 500)
	a["platform"] = obj{"architecture": "amd64", "os": "linux"}
	b := desc(oci.MediaTypeOCIManifest, childB, 501)
	b["platform"] = obj{"architecture": "arm64", "os": "linux", "variant": "v8"}
	return obj{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeOCIIndex,
		"manifests":     []any{a, b},
	}
}

func dockerImage() obj {
	return obj{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeDockerManifest,
		"config":        desc(mtDockerCfg, configDigest, 123),
		"layers":        []any{desc(mtDockerLyr, layerA, 1000)},
	}
}

func dockerList() obj {
	a := desc(oci.MediaTypeDockerManifest, childA, 500)
	a["platform"] = obj{"architecture": "amd64", "os": "linux"}
	return obj{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeDockerManifestList,
		"manifests":     []any{a},
	}
}

func artifact() obj {
	return obj{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeOCIManifest,
		"artifactType":  mtSBOM,
		"config":        desc(oci.MediaTypeOCIEmptyJSON, digest.FromString("{}"), 2),
		"layers":        []any{desc("application/spdx+json", layerA, 1000)},
		"subject":       desc(oci.MediaTypeOCIManifest, subjectD, 700),
	}
}

type manifestCase struct {
	name  string
	ct    string
	body  []byte
	code  core.Code // wanted error code; ignored when check is set
	check func(t *testing.T, m *oci.Manifest)
}

func digests(ds []oci.Descriptor) []digest.Digest {
	var out []digest.Digest
	for _, d := range ds {
		out = append(out, d.Digest)
	}
	return out
}

func manifestCases(t testing.TB) []manifestCase {
	paddedToMax := func() []byte {
		m := ociImage()
		m["annotations"] = obj{"pad": ""}
		base := len(mustJSON(t, m))
		m["annotations"] = obj{"pad": strings.Repeat("x", oci.MaxManifestSize-base)}
		return mustJSON(t, m)
	}
	return []manifestCase{
		// Valid manifests.
		{name: "oci image", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, ociImage()), check: func(t *testing.T, m *oci.Manifest) {
			if m.MediaType != oci.MediaTypeOCIManifest || m.IsIndex() {
				t.Errorf("media type %q, index %v", m.MediaType, m.IsIndex())
			}
			if m.Config == nil || m.Config.Digest != configDigest || m.Config.Size != 123 {
				t.Errorf("config %+v", m.Config)
			}
			if got := digests(m.Layers); !slices.Equal(got, []digest.Digest{layerA, layerB}) {
				t.Errorf("layers %v", got)
			}
			if got := digests(m.RequiredBlobs()); !slices.Equal(got, []digest.Digest{configDigest, layerA, layerB}) {
				t.Errorf("required blobs %v", got)
			}
			if m.EffectiveArtifactType() != mtConfig {
				t.Errorf("effective artifact type %q, want config media type", m.EffectiveArtifactType())
			}
			if m.Annotations["org.opencontainers.image.created"] == "" || m.Subject != nil || m.Manifests != nil {
				t.Errorf("annotations %v subject %v manifests %v", m.Annotations, m.Subject, m.Manifests)
			}
		}},
		{name: "oci image, media type from content type", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "mediaType", nil)), check: func(t *testing.T, m *oci.Manifest) {
			if m.MediaType != oci.MediaTypeOCIManifest {
				t.Errorf("media type %q", m.MediaType)
			}
		}},
		{name: "oci image, media type guessed", body: mustJSON(t, with(ociImage(), "mediaType", nil)), check: func(t *testing.T, m *oci.Manifest) {
			if m.MediaType != oci.MediaTypeOCIManifest {
				t.Errorf("media type %q", m.MediaType)
			}
		}},
		{name: "oci image, generic content type", ct: "application/json", body: mustJSON(t, ociImage()), check: func(t *testing.T, m *oci.Manifest) {
			if m.MediaType != oci.MediaTypeOCIManifest {
				t.Errorf("media type %q", m.MediaType)
			}
		}},
		{name: "oci image, content type with parameters and case", ct: "Application/VND.oci.image.manifest.v1+json; charset=utf-8", body: mustJSON(t, ociImage()), check: func(t *testing.T, m *oci.Manifest) {
			if m.MediaType != oci.MediaTypeOCIManifest {
				t.Errorf("media type %q", m.MediaType)
			}
		}},
		{name: "oci image, no layers", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "layers", []any{})), check: func(t *testing.T, m *oci.Manifest) {
			if got := digests(m.RequiredBlobs()); !slices.Equal(got, []digest.Digest{configDigest}) {
				t.Errorf("required blobs %v", got)
			}
		}},
		{name: "oci image, exactly max size", ct: oci.MediaTypeOCIManifest, body: paddedToMax(), check: func(t *testing.T, m *oci.Manifest) {
			if len(m.Annotations["pad"]) == 0 {
				t.Error("annotation lost")
			}
		}},
		{name: "oci image, leading whitespace", ct: oci.MediaTypeOCIManifest, body: append([]byte("\n\t "), mustJSON(t, ociImage())...), check: func(t *testing.T, m *oci.Manifest) {}},
		{name: "non-distributable layers", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "layers", []any{
			desc(mtLayer, layerA, 1), desc(mtNonDist, foreignLayer, 2), desc(mtForeign, foreignLayer, 3), desc(mtLayer, layerB, 4),
		})), check: func(t *testing.T, m *oci.Manifest) {
			if len(m.Layers) != 4 {
				t.Errorf("got %d layers, want all 4", len(m.Layers))
			}
			if got := digests(m.RequiredBlobs()); !slices.Equal(got, []digest.Digest{configDigest, layerA, layerB}) {
				t.Errorf("required blobs %v, want config and distributable layers", got)
			}
		}},
		{name: "oci index", ct: oci.MediaTypeOCIIndex, body: mustJSON(t, ociIndex()), check: func(t *testing.T, m *oci.Manifest) {
			if !m.IsIndex() || m.Config != nil || m.Layers != nil {
				t.Errorf("index %v config %v layers %v", m.IsIndex(), m.Config, m.Layers)
			}
			if got := digests(m.Manifests); !slices.Equal(got, []digest.Digest{childA, childB}) {
				t.Errorf("children %v", got)
			}
			if m.Manifests[1].Platform == nil || m.Manifests[1].Platform.Variant != "v8" {
				t.Errorf("platform %+v", m.Manifests[1].Platform)
			}
			if len(m.RequiredBlobs()) != 0 || m.EffectiveArtifactType() != "" {
				t.Errorf("required blobs %v, artifact type %q", m.RequiredBlobs(), m.EffectiveArtifactType())
			}
		}},
		{name: "oci index, media type guessed", body: mustJSON(t, with(ociIndex(), "mediaType", nil)), check: func(t *testing.T, m *oci.Manifest) {
			if m.MediaType != oci.MediaTypeOCIIndex {
				t.Errorf("media type %q", m.MediaType)
			}
		}},
		{name: "oci index, empty", ct: oci.MediaTypeOCIIndex, body: mustJSON(t, with(ociIndex(), "manifests", []any{})), check: func(t *testing.T, m *oci.Manifest) {
			if !m.IsIndex() || len(m.Manifests) != 0 {
				t.Errorf("got %+v", m)
			}
		}},
		{name: "oci index with artifactType and subject", ct: oci.MediaTypeOCIIndex, body: mustJSON(t, with(ociIndex(), "artifactType", mtSBOM, "subject", desc(oci.MediaTypeOCIManifest, subjectD, 1))), check: func(t *testing.T, m *oci.Manifest) {
			if m.EffectiveArtifactType() != mtSBOM || m.Subject == nil || m.Subject.Digest != subjectD {
				t.Errorf("artifact type %q subject %v", m.EffectiveArtifactType(), m.Subject)
			}
		}},
		{name: "docker schema2", ct: oci.MediaTypeDockerManifest, body: mustJSON(t, dockerImage()), check: func(t *testing.T, m *oci.Manifest) {
			if m.MediaType != oci.MediaTypeDockerManifest || m.IsIndex() {
				t.Errorf("media type %q", m.MediaType)
			}
			if got := digests(m.RequiredBlobs()); !slices.Equal(got, []digest.Digest{configDigest, layerA}) {
				t.Errorf("required blobs %v", got)
			}
			if m.EffectiveArtifactType() != mtDockerCfg {
				t.Errorf("effective artifact type %q", m.EffectiveArtifactType())
			}
		}},
		{name: "docker schema2 ignores artifactType and subject", ct: oci.MediaTypeDockerManifest, body: mustJSON(t, with(dockerImage(), "artifactType", mtSBOM, "subject", desc(oci.MediaTypeOCIManifest, subjectD, 1))), check: func(t *testing.T, m *oci.Manifest) {
			if m.ArtifactType != "" || m.Subject != nil {
				t.Errorf("artifact type %q subject %v", m.ArtifactType, m.Subject)
			}
		}},
		{name: "docker schema2 with foreign layer", ct: oci.MediaTypeDockerManifest, body: mustJSON(t, with(dockerImage(), "layers", []any{desc(mtForeign, foreignLayer, 9), desc(mtDockerLyr, layerA, 1)})), check: func(t *testing.T, m *oci.Manifest) {
			if got := digests(m.RequiredBlobs()); !slices.Equal(got, []digest.Digest{configDigest, layerA}) {
				t.Errorf("required blobs %v", got)
			}
		}},
		{name: "docker manifest list", ct: oci.MediaTypeDockerManifestList, body: mustJSON(t, dockerList()), check: func(t *testing.T, m *oci.Manifest) {
			if !m.IsIndex() || m.MediaType != oci.MediaTypeDockerManifestList {
				t.Errorf("media type %q", m.MediaType)
			}
			if got := digests(m.Manifests); !slices.Equal(got, []digest.Digest{childA}) {
				t.Errorf("children %v", got)
			}
		}},
		{name: "artifact with artifactType and subject", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, artifact()), check: func(t *testing.T, m *oci.Manifest) {
			if m.ArtifactType != mtSBOM || m.EffectiveArtifactType() != mtSBOM {
				t.Errorf("artifact type %q effective %q", m.ArtifactType, m.EffectiveArtifactType())
			}
			if m.Subject == nil || m.Subject.Digest != subjectD || m.Subject.Size != 700 {
				t.Errorf("subject %+v", m.Subject)
			}
		}},
		{name: "artifact typed by its config", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(artifact(), "artifactType", nil, "config", desc(mtSignature, configDigest, 5))), check: func(t *testing.T, m *oci.Manifest) {
			if m.ArtifactType != "" || m.EffectiveArtifactType() != mtSignature {
				t.Errorf("artifact type %q effective %q", m.ArtifactType, m.EffectiveArtifactType())
			}
		}},
		{name: "unknown fields ignored", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "x-extra", obj{"a": 1})), check: func(t *testing.T, m *oci.Manifest) {}},

		// Invalid manifests.
		{name: "not json", ct: oci.MediaTypeOCIManifest, body: []byte("{not json"), code: core.CodeManifestInvalid},
		{name: "truncated json", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, ociImage())[:40], code: core.CodeManifestInvalid},
		{name: "json array", ct: oci.MediaTypeOCIManifest, body: []byte("[]"), code: core.CodeManifestInvalid},
		{name: "json string", body: []byte(`"manifest"`), code: core.CodeManifestInvalid},
		{name: "json null", body: []byte("null"), code: core.CodeManifestInvalid},
		{name: "empty object", body: []byte("{}"), code: core.CodeManifestInvalid},
		{name: "empty body", ct: oci.MediaTypeOCIManifest, body: nil, code: core.CodeManifestInvalid},
		{name: "whitespace body", ct: oci.MediaTypeOCIManifest, body: []byte(" \n\t "), code: core.CodeManifestInvalid},
		{name: "schemaVersion 1", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "schemaVersion", 1)), code: core.CodeManifestInvalid},
		{name: "schemaVersion 3", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "schemaVersion", 3)), code: core.CodeManifestInvalid},
		{name: "schemaVersion missing", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "schemaVersion", nil)), code: core.CodeManifestInvalid},
		{name: "schemaVersion string", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "schemaVersion", "2")), code: core.CodeManifestInvalid},
		{name: "schemaVersion float", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "schemaVersion", 2.5)), code: core.CodeManifestInvalid},
		{name: "mediaType does not match content type", ct: oci.MediaTypeOCIIndex, body: mustJSON(t, ociImage()), code: core.CodeManifestInvalid},
		{name: "docker mediaType with oci content type", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, dockerImage()), code: core.CodeManifestInvalid},
		{name: "unknown media type", ct: mtUnknownMan, body: mustJSON(t, with(ociImage(), "mediaType", nil)), code: core.CodeManifestInvalid},
		{name: "unknown mediaType field", body: mustJSON(t, with(ociImage(), "mediaType", mtUnknownMan)), code: core.CodeManifestInvalid},
		{name: "index with layers", ct: oci.MediaTypeOCIIndex, body: mustJSON(t, with(ociIndex(), "layers", []any{desc(mtLayer, layerA, 1)})), code: core.CodeManifestInvalid},
		{name: "index with empty layers", ct: oci.MediaTypeOCIIndex, body: mustJSON(t, with(ociIndex(), "layers", []any{})), code: core.CodeManifestInvalid},
		{name: "index with config", ct: oci.MediaTypeOCIIndex, body: mustJSON(t, with(ociIndex(), "config", desc(mtConfig, configDigest, 1))), code: core.CodeManifestInvalid},
		{name: "image with manifests", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "manifests", []any{})), code: core.CodeManifestInvalid},
		{name: "image without config", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "config", nil)), code: core.CodeManifestInvalid},
		{name: "image with null config", ct: oci.MediaTypeOCIManifest, body: []byte(`{"schemaVersion":2,"config":null,"layers":[]}`), code: core.CodeManifestInvalid},
		{name: "config without mediaType", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "config", obj{"digest": string(configDigest), "size": 1})), code: core.CodeManifestInvalid},
		{name: "config without digest", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "config", obj{"mediaType": mtConfig, "size": 1})), code: core.CodeManifestInvalid},
		{name: "bad layer digest", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "layers", []any{desc(mtLayer, layerA, 1), desc(mtLayer, "sha256:1234", 1)})), code: core.CodeManifestInvalid},
		{name: "uppercase layer digest", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "layers", []any{desc(mtLayer, digest.Digest(strings.ToUpper(string(layerA))), 1)})), code: core.CodeManifestInvalid},
		{name: "sha384 config digest", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "config", desc(mtConfig, digest.Digest(sha384Abc), 1))), code: core.CodeManifestInvalid},
		{name: "negative layer size", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "layers", []any{desc(mtLayer, layerA, -1)})), code: core.CodeManifestInvalid},
		{name: "negative config size", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "config", desc(mtConfig, configDigest, -5))), code: core.CodeManifestInvalid},
		{name: "fractional size", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "config", obj{"mediaType": mtConfig, "digest": string(configDigest), "size": 1.5})), code: core.CodeManifestInvalid},
		{name: "size overflows int64", ct: oci.MediaTypeOCIManifest, body: bytes.Replace(mustJSON(t, ociImage()), []byte(`"size":123`), []byte(`"size":99999999999999999999`), 1), code: core.CodeManifestInvalid},
		{name: "layers not an array", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(ociImage(), "layers", obj{})), code: core.CodeManifestInvalid},
		{name: "bad child digest", ct: oci.MediaTypeOCIIndex, body: mustJSON(t, with(ociIndex(), "manifests", []any{desc(oci.MediaTypeOCIManifest, "sha256:nope", 1)})), code: core.CodeManifestInvalid},
		{name: "negative child size", ct: oci.MediaTypeOCIIndex, body: mustJSON(t, with(ociIndex(), "manifests", []any{desc(oci.MediaTypeOCIManifest, childA, -1)})), code: core.CodeManifestInvalid},
		{name: "child without mediaType", ct: oci.MediaTypeOCIIndex, body: mustJSON(t, with(ociIndex(), "manifests", []any{obj{"digest": string(childA), "size": 1}})), code: core.CodeManifestInvalid},
		{name: "bad subject digest", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(artifact(), "subject", desc(oci.MediaTypeOCIManifest, "md5:abc", 1))), code: core.CodeManifestInvalid},
		{name: "subject without mediaType", ct: oci.MediaTypeOCIManifest, body: mustJSON(t, with(artifact(), "subject", obj{"digest": string(subjectD), "size": 1})), code: core.CodeManifestInvalid},
		{name: "schema1 media type", ct: oci.MediaTypeDockerSchema1, body: []byte(`{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[]}`), code: core.CodeUnsupported},
		{name: "schema1 signed media type", ct: oci.MediaTypeDockerSchema1JWS, body: []byte(`{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[],"signatures":[]}`), code: core.CodeUnsupported},
		{name: "schema1 mediaType field", body: []byte(`{"schemaVersion":1,"mediaType":"` + oci.MediaTypeDockerSchema1 + `","fsLayers":[]}`), code: core.CodeUnsupported},
		{name: "schema1 detected by fsLayers", body: []byte(`{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[{"blobSum":"` + string(layerA) + `"}]}`), code: core.CodeUnsupported},
		{name: "too large", ct: oci.MediaTypeOCIManifest, body: append(paddedToMax(), ' '), code: core.CodeTooLarge},
		{name: "far too large garbage", ct: oci.MediaTypeOCIManifest, body: bytes.Repeat([]byte("x"), oci.MaxManifestSize+1024), code: core.CodeTooLarge},
	}
}

func TestParseManifest(t *testing.T) {
	for _, tc := range manifestCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			m, err := oci.ParseManifest(tc.ct, tc.body)
			if tc.check == nil {
				wantCode(t, err, tc.code)
				if m != nil {
					t.Errorf("got a manifest with an error")
				}
				if len(err.Error()) > 400 {
					t.Errorf("error message is %d bytes", len(err.Error()))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseManifest: %v", err)
			}
			checkManifestInvariants(t, m)
			tc.check(t, m)
		})
	}
}

func TestEffectiveArtifactType(t *testing.T) {
	cfg := &oci.Descriptor{MediaType: mtSignature, Digest: configDigest}
	tests := []struct {
		name string
		m    oci.Manifest
		want string
	}{
		{"artifactType wins", oci.Manifest{MediaType: oci.MediaTypeOCIManifest, ArtifactType: mtSBOM, Config: cfg}, mtSBOM},
		{"config media type", oci.Manifest{MediaType: oci.MediaTypeOCIManifest, Config: cfg}, mtSignature},
		{"index artifactType", oci.Manifest{MediaType: oci.MediaTypeOCIIndex, ArtifactType: mtSBOM}, mtSBOM},
		{"index without artifactType", oci.Manifest{MediaType: oci.MediaTypeOCIIndex}, ""},
		{"no config", oci.Manifest{MediaType: oci.MediaTypeOCIManifest}, ""},
	}
	for _, tc := range tests {
		if got := tc.m.EffectiveArtifactType(); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestMediaTypeHelpers(t *testing.T) {
	for _, mt := range []string{oci.MediaTypeOCIManifest, oci.MediaTypeOCIIndex, oci.MediaTypeDockerManifest, oci.MediaTypeDockerManifestList} {
		if !oci.IsManifestType(mt) {
			t.Errorf("IsManifestType(%q) = false", mt)
		}
	}
	for _, mt := range []string{"", oci.MediaTypeDockerSchema1, oci.MediaTypeDockerSchema1JWS, oci.MediaTypeOCIEmptyJSON, mtConfig} {
		if oci.IsManifestType(mt) {
			t.Errorf("IsManifestType(%q) = true", mt)
		}
	}
	if !oci.IsIndexType(oci.MediaTypeOCIIndex) || !oci.IsIndexType(oci.MediaTypeDockerManifestList) || oci.IsIndexType(oci.MediaTypeOCIManifest) {
		t.Error("IsIndexType")
	}
	for _, mt := range []string{mtNonDist, mtForeign, "application/vnd.oci.image.layer.nondistributable.v1.tar"} {
		if !oci.IsNonDistributable(mt) {
			t.Errorf("IsNonDistributable(%q) = false", mt)
		}
	}
	if oci.IsNonDistributable(mtLayer) || oci.IsNonDistributable(mtDockerLyr) {
		t.Error("a distributable layer was reported non-distributable")
	}
	bases := map[string]string{
		"":                            "",
		"application/json":            "application/json",
		"Application/JSON; charset=x": "application/json",
		"  text/plain ;q=1":           "text/plain",
	}
	for in, want := range bases {
		if got := oci.BaseMediaType(in); got != want {
			t.Errorf("BaseMediaType(%q) = %q, want %q", in, got, want)
		}
	}
}

// checkManifestInvariants holds for every manifest ParseManifest accepts.
func checkManifestInvariants(t testing.TB, m *oci.Manifest) {
	t.Helper()
	if !oci.IsManifestType(m.MediaType) {
		t.Fatalf("accepted media type %q", m.MediaType)
	}
	var all []oci.Descriptor
	if m.IsIndex() {
		if m.Config != nil || m.Layers != nil {
			t.Fatalf("index with config or layers")
		}
		if len(m.RequiredBlobs()) != 0 {
			t.Fatalf("index requires blobs %v", m.RequiredBlobs())
		}
		all = append(all, m.Manifests...)
	} else {
		if m.Config == nil {
			t.Fatalf("image manifest without config")
		}
		if m.Manifests != nil {
			t.Fatalf("image manifest with children")
		}
		all = append(all, *m.Config)
		all = append(all, m.Layers...)
	}
	if m.Subject != nil {
		all = append(all, *m.Subject)
	}
	for _, d := range all {
		if _, err := oci.ParseDigest(string(d.Digest)); err != nil {
			t.Fatalf("descriptor %+v has an invalid digest: %v", d, err)
		}
		if d.Size < 0 || d.MediaType == "" {
			t.Fatalf("descriptor %+v has a negative size or no media type", d)
		}
	}
	for _, d := range m.RequiredBlobs() {
		if oci.IsNonDistributable(d.MediaType) {
			t.Fatalf("required blob %+v is non-distributable", d)
		}
	}
	if m.MediaType == oci.MediaTypeDockerManifest || m.MediaType == oci.MediaTypeDockerManifestList {
		if m.Subject != nil || m.ArtifactType != "" {
			t.Fatalf("docker manifest with subject or artifactType")
		}
	}
	if m.ArtifactType != "" && m.EffectiveArtifactType() != m.ArtifactType {
		t.Fatalf("effective artifact type %q, declared %q", m.EffectiveArtifactType(), m.ArtifactType)
	}
}

// FuzzParseManifest checks that ParseManifest never panics, only fails with a
// client error code, and that what it accepts is self-consistent.
func FuzzParseManifest(f *testing.F) {
	for _, tc := range manifestCases(f) {
		if len(tc.body) > 64<<10 {
			continue // keep the corpus small; size limits are covered by the table
		}
		f.Add(tc.ct, tc.body)
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		m, err := oci.ParseManifest(ct, body)
		if err != nil {
			switch c := core.CodeOf(err); c {
			case core.CodeManifestInvalid, core.CodeUnsupported, core.CodeTooLarge:
			default:
				t.Fatalf("unexpected code %v: %v", c, err)
			}
			if m != nil {
				t.Fatal("manifest returned with an error")
			}
			return
		}
		checkManifestInvariants(t, m)
		if len(body) > oci.MaxManifestSize {
			t.Fatalf("accepted %d bytes", len(body))
		}
		// Parsing is deterministic.
		m2, err := oci.ParseManifest(ct, body)
		if err != nil || m2.MediaType != m.MediaType || len(m2.RequiredBlobs()) != len(m.RequiredBlobs()) {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}
