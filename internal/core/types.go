package core

import (
	"time"

	"github.com/opencontainers/go-digest"
)

// Repository visibility values.
const (
	VisibilityPublic  = "public"
	VisibilityPrivate = "private"
)

// Repository states, as Quay names them.
const (
	RepoStateNormal   = "NORMAL"
	RepoStateReadOnly = "READ_ONLY"
	RepoStateMirror   = "MIRROR"
)

// Repository is a named collection of manifests and tags inside a namespace.
type Repository struct {
	ID          int64
	Namespace   string
	Name        string // path inside the namespace; may contain '/'
	FullName    string // namespace/name, as used on /v2/
	Visibility  string
	State       string
	Description string
	CreatedAt   time.Time
}

// Manifest is a stored manifest of one repository.
type Manifest struct {
	ID              int64
	RepositoryID    int64
	Digest          digest.Digest
	MediaType       string
	ArtifactType    string // effective artifact type (artifactType or config media type)
	ConfigMediaType string
	Subject         digest.Digest
	Annotations     map[string]string
	Size            int64
	Content         []byte
	CreatedAt       time.Time
}

// Descriptor is what the referrers API lists for a manifest.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       digest.Digest     `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// Tag is one lifetime of a tag: it pointed at a manifest from Start until
// End (zero End = the current row of the tag).
type Tag struct {
	ID                int64
	Name              string
	ManifestDigest    digest.Digest
	ManifestMediaType string
	LayersSize        int64 // compressed size of the manifest's layers
	Start             time.Time
	End               time.Time
	// Expires is when a current tag ends by itself (zero: never). A
	// current tag whose expiry has passed is gone even before the periodic
	// sweep ends its row.
	Expires time.Time
	// Reversion marks a row started by restoring the tag.
	Reversion bool
	// Immutable is set when the tag cannot be moved, deleted or expired:
	// its own flag, or (for a current tag) a matching immutability policy.
	Immutable bool
}

// Current reports whether the row is the tag's current one and has not
// expired at now.
func (t Tag) Current(now time.Time) bool {
	return t.End.IsZero() && (t.Expires.IsZero() || t.Expires.After(now))
}

// Upload is a blob upload session.
type Upload struct {
	ID           string
	RepositoryID int64
	Repository   string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}
