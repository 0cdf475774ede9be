package store

import (
	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/oci"
)

// ManifestPut is the PutManifest of a verified manifest (oci.VerifyManifest):
// its media and artifact types, subject, annotations, the blobs it needs,
// its layers' size and an index's children, pointed at by tags. Every
// writer of manifests (registry pushes, mirror syncs, imports) builds its
// write here, so they record the same references; callers add Labels
// (oci.ManifestLabels) and their own options.
func ManifestPut(repo string, d digest.Digest, raw []byte, m *oci.Manifest, tags []string) PutManifest {
	put := PutManifest{
		Repository:   repo,
		Digest:       d,
		MediaType:    m.MediaType,
		ArtifactType: m.EffectiveArtifactType(),
		Annotations:  m.Annotations,
		Content:      raw,
		Tags:         tags,
	}
	if m.Config != nil {
		put.ConfigMediaType = m.Config.MediaType
	}
	if m.Subject != nil {
		put.Subject = m.Subject.Digest
	}
	for _, b := range m.RequiredBlobs() {
		put.Blobs = append(put.Blobs, b.Digest)
	}
	for _, l := range m.Layers {
		put.LayersSize += l.Size
	}
	for _, c := range m.Manifests {
		put.Children = append(put.Children, c.Digest)
	}
	return put
}
