package scanner

import (
	"path"
	"strings"
)

// Whiteout markers of the OCI image layer format.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// entryKind is what a layer tar entry means for the image filesystem.
type entryKind int

const (
	entryFile     entryKind = iota // a path with content
	entryWhiteout                  // deletes Path from lower layers
	entryOpaque                    // hides the lower layers' content of directory Path
	entryInvalid                   // unusable name: skipped
)

// classifyEntry normalises a tar entry name to a clean relative path
// ("usr/bin/x": no leading "/" or "./", no "..", no empty or "."
// components) and recognises whiteouts. A name that escapes the root or
// names the root itself is invalid. For a whiteout, the returned path is the
// deleted path; for an opaque marker, the directory ("" for the root).
func classifyEntry(name string) (string, entryKind) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", entryInvalid
	}
	p := strings.TrimSuffix(name, "/")
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", entryInvalid
		}
	}
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case base == whiteoutOpaque:
		return dir, entryOpaque
	case strings.HasPrefix(base, whiteoutPrefix):
		target := base[len(whiteoutPrefix):]
		if target == "" || target == "." || target == ".." {
			return "", entryInvalid
		}
		return path.Join(dir, target), entryWhiteout
	case p == "":
		return "", entryInvalid
	}
	return p, entryFile
}

// hides reports whether a whiteout of w (or an opaque marker on directory
// w when opaque) in a higher layer hides path p of a lower layer.
func hides(w string, opaque bool, p string) bool {
	if opaque {
		return w == "" || strings.HasPrefix(p, w+"/")
	}
	return p == w || strings.HasPrefix(p, w+"/")
}
