package e2e

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
)

// Media types of the generated images.
const (
	imgManifestType = "application/vnd.oci.image.manifest.v1+json"
	imgIndexType    = "application/vnd.oci.image.index.v1+json"
	imgConfigType   = "application/vnd.oci.image.config.v1+json"
	imgLayerType    = "application/vnd.oci.image.layer.v1.tar"
)

// imgBlob is a blob and its content.
type imgBlob struct {
	Digest string
	Data   []byte
}

func newImgBlob(data []byte) imgBlob { return imgBlob{Digest: sha256Of(data), Data: data} }

// sha256Of returns the sha256 digest string of b.
func sha256Of(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// imgDesc is an OCI content descriptor.
type imgDesc struct {
	MediaType string       `json:"mediaType"`
	Digest    string       `json:"digest"`
	Size      int64        `json:"size"`
	Platform  *imgPlatform `json:"platform,omitempty"`
}

type imgPlatform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// imgManifest is an image manifest or an index, as generated and as parsed back.
type imgManifest struct {
	SchemaVersion int       `json:"schemaVersion"`
	MediaType     string    `json:"mediaType"`
	Config        *imgDesc  `json:"config,omitempty"`
	Layers        []imgDesc `json:"layers,omitempty"`
	Manifests     []imgDesc `json:"manifests,omitempty"`
}

// imgImage is a generated image manifest or index, ready to push.
type imgImage struct {
	Repo      string
	Tag       string // empty for an index child, which is pushed by digest
	MediaType string
	Manifest  []byte
	Digest    string
	Blobs     []imgBlob   // config then layers (none for an index)
	Children  []*imgImage // the image manifests an index lists
}

// Ref is what the manifest is pushed as: its tag, or its digest when untagged.
func (im *imgImage) Ref() string {
	if im.Tag != "" {
		return im.Tag
	}
	return im.Digest
}

// AllBlobs lists the blobs of the image and of its children, without duplicates.
func (im *imgImage) AllBlobs() []imgBlob {
	seen := map[string]bool{}
	var out []imgBlob
	var walk func(*imgImage)
	walk = func(m *imgImage) {
		for _, c := range m.Children {
			walk(c)
		}
		for _, b := range m.Blobs {
			if !seen[b.Digest] {
				seen[b.Digest] = true
				out = append(out, b)
			}
		}
	}
	walk(im)
	return out
}

// buildImage makes an OCI image manifest of a config and layers.
func buildImage(repo, tag string, config imgBlob, layers ...imgBlob) *imgImage {
	m := imgManifest{
		SchemaVersion: 2,
		MediaType:     imgManifestType,
		Config:        &imgDesc{MediaType: imgConfigType, Digest: config.Digest, Size: int64(len(config.Data))},
		Layers:        []imgDesc{},
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, imgDesc{MediaType: imgLayerType, Digest: l.Digest, Size: int64(len(l.Data))})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return &imgImage{
		Repo: repo, Tag: tag, MediaType: imgManifestType, Manifest: raw, Digest: sha256Of(raw),
		Blobs: append([]imgBlob{config}, layers...),
	}
}

// buildIndex makes an OCI index of image manifests (one platform each).
func buildIndex(repo, tag string, children ...*imgImage) *imgImage {
	m := imgManifest{SchemaVersion: 2, MediaType: imgIndexType}
	archs := []string{"amd64", "arm64", "riscv64", "s390x"}
	for i, c := range children {
		m.Manifests = append(m.Manifests, imgDesc{
			MediaType: c.MediaType, Digest: c.Digest, Size: int64(len(c.Manifest)),
			Platform: &imgPlatform{Architecture: archs[i%len(archs)], OS: "linux"},
		})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return &imgImage{Repo: repo, Tag: tag, MediaType: imgIndexType, Manifest: raw, Digest: sha256Of(raw), Children: children}
}

// imgConfig returns a small image config that is unique to id.
func imgConfig(id string, layers ...imgBlob) imgBlob {
	diffIDs := []string{}
	for _, l := range layers {
		diffIDs = append(diffIDs, l.Digest)
	}
	raw, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Labels": map[string]string{"test.id": id}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	if err != nil {
		panic(err)
	}
	return newImgBlob(raw)
}

// imgRandom returns n pseudo-random bytes determined by the seed words.
func imgRandom(n int, seed ...uint64) []byte {
	var key [32]byte
	for i, s := range seed {
		if i >= 4 {
			panic(fmt.Sprintf("imgRandom: at most 4 seed words, got %d", len(seed)))
		}
		binary.LittleEndian.PutUint64(key[i*8:], s)
	}
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}
