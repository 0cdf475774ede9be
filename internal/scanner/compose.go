package scanner

import (
	"cmp"
	"slices"

	"github.com/opencontainers/go-digest"
)

// indexedLayer is a layer of an image with its index.
type indexedLayer struct {
	Digest digest.Digest
	Index  LayerIndex
}

// ImagePackage is a package visible in an image.
type ImagePackage struct {
	Package
	// AddedBy is the digest of the lowest layer whose file at that path
	// lists the package.
	AddedBy digest.Digest `json:"added_by"`
}

// Image is the composed view of an image's layers.
type Image struct {
	Distro   *Distro        `json:"distro,omitempty"`
	Packages []ImagePackage `json:"packages"`
}

// compose overlays the layers (index 0 is the base): a package read from
// a file of layer i is visible unless a higher layer has a file at the same
// path, deletes the path or an ancestor (whiteout), or hides an ancestor
// directory (opaque whiteout). The distribution comes from the visible
// etc/os-release, else usr/lib/os-release. Packages are listed once per
// (type, name, version, path), ordered by layer, then path, then name.
func compose(layers []indexedLayer) Image {
	visible := func(i int, p string) bool {
		for _, up := range layers[i+1:] {
			if _, ok := slices.BinarySearch(up.Index.Files, p); ok {
				return false
			}
			for _, w := range up.Index.Whiteouts {
				if hides(w, false, p) {
					return false
				}
			}
			for _, o := range up.Index.Opaque {
				if hides(o, true, p) {
					return false
				}
			}
		}
		return true
	}
	var img Image
	for _, rel := range osReleasePaths {
		for i := len(layers) - 1; i >= 0 && img.Distro == nil; i-- {
			if _, ok := slices.BinarySearch(layers[i].Index.Files, rel); !ok || !visible(i, rel) {
				continue
			}
			if content, ok := layers[i].Index.OSRelease[rel]; ok {
				d := parseOSRelease([]byte(content))
				if d.ID != "" {
					img.Distro = &d
				}
			}
			// The topmost entry decides, even when it is a link: a link
			// leads on to the next location.
			break
		}
		if img.Distro != nil {
			break
		}
	}
	type key struct{ typ, name, version, path string }
	has := make([]map[key]bool, len(layers))
	for i, l := range layers {
		has[i] = make(map[key]bool, len(l.Index.Packages))
		for _, p := range l.Index.Packages {
			has[i][key{p.Type, p.Name, p.Version, p.Path}] = true
		}
	}
	seen := map[key]bool{}
	for i, l := range layers {
		pkgs := slices.Clone(l.Index.Packages)
		slices.SortFunc(pkgs, func(a, b Package) int {
			return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
		})
		for _, p := range pkgs {
			if !visible(i, p.Path) {
				continue
			}
			k := key{p.Type, p.Name, p.Version, p.Path}
			if seen[k] {
				continue
			}
			seen[k] = true
			// A package database rewritten by later layers still lists
			// the package: it was added by the first layer that had it.
			added := i
			for j := range i {
				if has[j][k] {
					added = j
					break
				}
			}
			img.Packages = append(img.Packages, ImagePackage{Package: p, AddedBy: layers[added].Digest})
		}
	}
	return img
}
