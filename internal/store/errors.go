package store

import "github.com/wharfhq/wharf/internal/core"

func errTagUnknown(tag, repo string) error {
	return core.Errorf(core.CodeManifestUnknown, "tag %q not found in %s", tag, repo)
}
