package oci

import (
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
)

// The checks every manifest written into a repository goes through, whoever
// writes it: a client's push (registry), a mirror sync and an import
// (mirror). Keeping them here is what keeps those paths from drifting apart.

// Image config media types whose Labels a push reads.
const (
	MediaTypeOCIConfig    = "application/vnd.oci.image.config.v1+json"
	MediaTypeDockerConfig = "application/vnd.docker.container.image.v1+json"
)

// MaxLabelConfigSize bounds the image config read for its labels.
const MaxLabelConfigSize = 8 << 20

// VerifyManifest checks manifest bytes against the digest they are written
// under and parses them. want is the expected digest (a push by digest, a
// copy of a known descriptor); empty, the digest is computed with the
// canonical algorithm (a push by tag). It returns the parsed manifest and
// its digest.
func VerifyManifest(raw []byte, mediaType string, want digest.Digest) (*Manifest, digest.Digest, error) {
	if len(raw) > MaxManifestSize {
		return nil, "", core.Errorf(core.CodeTooLarge, "manifest larger than %d bytes", MaxManifestSize)
	}
	alg := digest.Canonical
	if want != "" {
		if err := want.Validate(); err != nil {
			return nil, "", core.Wrap(core.CodeDigestInvalid, err, "invalid manifest digest")
		}
		alg = want.Algorithm()
	}
	d := alg.FromBytes(raw)
	if want != "" && d != want {
		return nil, "", core.Errorf(core.CodeDigestInvalid, "manifest digest %s does not match %s", d, want)
	}
	m, err := ParseManifest(mediaType, raw)
	if err != nil {
		return nil, "", err
	}
	return m, d, nil
}

// LabelConfig returns the image config whose Labels a push reads: an image
// manifest's config of an image config media type, at most
// MaxLabelConfigSize bytes. An index or an artifact has none.
func LabelConfig(m *Manifest) (Descriptor, bool) {
	c := m.Config
	if c == nil || m.IsIndex() || c.Size > MaxLabelConfigSize ||
		(c.MediaType != MediaTypeOCIConfig && c.MediaType != MediaTypeDockerConfig) {
		return Descriptor{}, false
	}
	return *c, true
}

// ConfigLabels decodes the config.Labels of an image config read from r (at
// most MaxLabelConfigSize bytes). A config that is not JSON has no labels.
func ConfigLabels(r io.Reader) map[string]string {
	var doc struct {
		Config struct {
			Labels map[string]string `json:"Labels"`
		} `json:"config"`
	}
	if json.NewDecoder(io.LimitReader(r, MaxLabelConfigSize)).Decode(&doc) != nil {
		return nil
	}
	return doc.Config.Labels
}

// QuayLabels copies the quay.* entries of src into dst.
func QuayLabels(dst, src map[string]string) {
	for k, v := range src {
		if strings.HasPrefix(k, core.LabelPrefix) {
			dst[k] = v
		}
	}
}

// OpenBlob opens stored blob bytes; a missing blob is core.CodeBlobUnknown.
type OpenBlob func(ctx context.Context, d digest.Digest) (io.ReadCloser, error)

// ManifestLabels returns the quay.* labels a manifest is stored with, as
// Quay reads them on push: an image manifest's config Labels, overlaid by
// the manifest's annotations (an index or artifact: its annotations). A
// config that is not stored yet or is not JSON has no labels (the write then
// fails or succeeds on its own merits); any other error of open is
// returned. It does no I/O itself: the config is read through open.
func ManifestLabels(ctx context.Context, m *Manifest, open OpenBlob) (map[string]string, error) {
	labels := map[string]string{}
	if c, ok := LabelConfig(m); ok {
		rc, err := open(ctx, c.Digest)
		switch {
		case core.IsCode(err, core.CodeBlobUnknown):
		case err != nil:
			return nil, err
		default:
			QuayLabels(labels, ConfigLabels(rc))
			rc.Close()
		}
	}
	QuayLabels(labels, m.Annotations)
	return labels, nil
}
