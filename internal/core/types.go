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

// Tag is one lifetime of a tag: it pointed at Manifest from Start until End
// (zero End = current).
type Tag struct {
	ID             int64
	Name           string
	ManifestDigest digest.Digest
	Start          time.Time
	End            time.Time
}

// Upload is a blob upload session.
type Upload struct {
	ID           string
	RepositoryID int64
	Repository   string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}
