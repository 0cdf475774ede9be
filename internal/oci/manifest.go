package oci

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
)

// MaxManifestSize is the largest manifest the registry accepts (4 MiB), as the
// distribution spec recommends.
const MaxManifestSize = 4 << 20

// Descriptor is an OCI content descriptor as it appears inside manifests.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       digest.Digest     `json:"digest"`
	Size         int64             `json:"size"`
	URLs         []string          `json:"urls,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Platform     *Platform         `json:"platform,omitempty"`
}

// Platform describes the platform of an index entry.
type Platform struct {
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	OSVersion    string   `json:"os.version,omitempty"`
	OSFeatures   []string `json:"os.features,omitempty"`
	Variant      string   `json:"variant,omitempty"`
}

// rawManifest is the union of the image manifest and index JSON shapes.
type rawManifest struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *Descriptor       `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Manifests     []Descriptor      `json:"manifests"`
	Subject       *Descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
	FSLayers      json.RawMessage   `json:"fsLayers"`
}

// Manifest is the parsed, validated form of an image manifest or index.
type Manifest struct {
	MediaType    string
	ArtifactType string // declared artifactType
	Config       *Descriptor
	Layers       []Descriptor
	Manifests    []Descriptor // children of an index
	Subject      *Descriptor
	Annotations  map[string]string
}

// IsIndex reports whether the manifest is an index / manifest list.
func (m *Manifest) IsIndex() bool { return IsIndexType(m.MediaType) }

// EffectiveArtifactType is the artifact type reported by the referrers API:
// artifactType when set, else the config media type of an image manifest.
func (m *Manifest) EffectiveArtifactType() string {
	if m.ArtifactType != "" {
		return m.ArtifactType
	}
	if m.Config != nil && !m.IsIndex() {
		return m.Config.MediaType
	}
	return ""
}

// RequiredBlobs lists the blobs the registry must hold for this manifest: the
// config and every distributable layer.
func (m *Manifest) RequiredBlobs() []Descriptor {
	var out []Descriptor
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	for _, l := range m.Layers {
		if IsNonDistributable(l.MediaType) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// ParseManifest parses and validates manifest bytes. contentType is the
// Content-Type the client sent (may be empty). The manifest's mediaType field,
// when present, must agree with contentType.
func ParseManifest(contentType string, body []byte) (*Manifest, error) {
	if len(body) > MaxManifestSize {
		return nil, core.Errorf(core.CodeTooLarge, "manifest larger than %d bytes", MaxManifestSize)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalid("empty manifest")
	}
	var raw rawManifest
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, invalid("manifest is not valid JSON: " + truncate(err.Error(), 120))
	}
	ct := BaseMediaType(contentType)
	mt := raw.MediaType
	switch {
	case mt != "" && ct != "" && !isGenericContentType(ct) && mt != ct:
		return nil, invalid(fmt.Sprintf("manifest mediaType %q does not match Content-Type %q", truncate(mt, 100), truncate(ct, 100)))
	case mt == "" && ct != "" && !isGenericContentType(ct):
		mt = ct
	case mt == "":
		mt = guessMediaType(&raw)
	}
	if mt == MediaTypeDockerSchema1 || mt == MediaTypeDockerSchema1JWS || (mt == "" && raw.FSLayers != nil) {
		return nil, core.Errorf(core.CodeUnsupported, "Docker schema 1 manifests are not supported; push schema 2 or OCI")
	}
	if !IsManifestType(mt) {
		return nil, core.Errorf(core.CodeManifestInvalid, "unsupported manifest media type %q", truncate(mt, 100))
	}
	if raw.SchemaVersion == nil || *raw.SchemaVersion != 2 {
		return nil, invalid("schemaVersion must be 2")
	}
	m := &Manifest{
		MediaType:    mt,
		ArtifactType: raw.ArtifactType,
		Subject:      raw.Subject,
		Annotations:  raw.Annotations,
	}
	if IsIndexType(mt) {
		if raw.Config != nil || raw.Layers != nil {
			return nil, invalid("an index must not have config or layers")
		}
		for i := range raw.Manifests {
			if err := checkDescriptor(&raw.Manifests[i], "manifests", i); err != nil {
				return nil, err
			}
		}
		m.Manifests = raw.Manifests
	} else {
		if raw.Manifests != nil {
			return nil, invalid("an image manifest must not have manifests")
		}
		if raw.Config == nil {
			return nil, invalid("manifest has no config")
		}
		if err := checkDescriptor(raw.Config, "config", -1); err != nil {
			return nil, err
		}
		for i := range raw.Layers {
			if err := checkDescriptor(&raw.Layers[i], "layers", i); err != nil {
				return nil, err
			}
		}
		m.Config = raw.Config
		m.Layers = raw.Layers
	}
	if m.Subject != nil {
		if err := checkDescriptor(m.Subject, "subject", -1); err != nil {
			return nil, err
		}
	}
	if mt == MediaTypeDockerManifest || mt == MediaTypeDockerManifestList {
		// Docker media types have no artifactType or subject; ignore them if sent.
		m.ArtifactType = ""
		m.Subject = nil
	}
	return m, nil
}

func checkDescriptor(d *Descriptor, field string, i int) error {
	where := field
	if i >= 0 {
		where = fmt.Sprintf("%s[%d]", field, i)
	}
	if d.MediaType == "" {
		return invalid(where + ": mediaType is required")
	}
	if _, err := ParseDigest(string(d.Digest)); err != nil {
		return invalid(fmt.Sprintf("%s: invalid digest %q", where, truncate(string(d.Digest), 80)))
	}
	if d.Size < 0 {
		return invalid(where + ": size must not be negative")
	}
	return nil
}

func invalid(msg string) error { return core.Errorf(core.CodeManifestInvalid, "%s", msg) }

func isGenericContentType(ct string) bool {
	switch ct {
	case "", "application/json", "application/octet-stream", "text/plain":
		return true
	}
	return false
}

func guessMediaType(raw *rawManifest) string {
	switch {
	case raw.Manifests != nil:
		return MediaTypeOCIIndex
	case raw.Config != nil:
		return MediaTypeOCIManifest
	}
	return ""
}
