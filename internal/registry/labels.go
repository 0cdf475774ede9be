package registry

import (
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

// Image config media types whose Labels the registry reads on push.
const (
	mediaTypeOCIConfig    = "application/vnd.oci.image.config.v1+json"
	mediaTypeDockerConfig = "application/vnd.docker.container.image.v1+json"
)

// maxConfigSize bounds the image config read for its labels.
const maxConfigSize = 8 << 20

// manifestLabels returns the quay.* labels of a pushed manifest, as Quay
// reads them: an image manifest's config Labels, overlaid by the manifest's
// annotations (an index or artifact: its annotations). A config that is not
// stored yet or is not JSON has no labels (the push then fails or succeeds on
// its own merits); a storage failure is returned.
func (h *Handler) manifestLabels(ctx context.Context, m *oci.Manifest) (map[string]string, error) {
	labels := map[string]string{}
	if c := m.Config; c != nil && !m.IsIndex() && (c.MediaType == mediaTypeOCIConfig || c.MediaType == mediaTypeDockerConfig) &&
		c.Size <= maxConfigSize {
		rc, _, err := h.blobs.Open(ctx, c.Digest)
		switch {
		case core.IsCode(err, core.CodeBlobUnknown):
		case err != nil:
			return nil, err
		default:
			var doc struct {
				Config struct {
					Labels map[string]string `json:"Labels"`
				} `json:"config"`
			}
			decodeErr := json.NewDecoder(io.LimitReader(rc, maxConfigSize)).Decode(&doc)
			rc.Close()
			if decodeErr == nil {
				keepQuayLabels(labels, doc.Config.Labels)
			}
		}
	}
	keepQuayLabels(labels, m.Annotations)
	return labels, nil
}

func keepQuayLabels(dst, src map[string]string) {
	for k, v := range src {
		if strings.HasPrefix(k, core.LabelPrefix) {
			dst[k] = v
		}
	}
}
