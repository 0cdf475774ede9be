package registry

import "strings"

// routeKind names a /v2/ endpoint.
type routeKind int

const (
	routeUnknown routeKind = iota
	routeBase
	routeCatalog
	routeTags
	routeManifest
	routeBlob
	routeUploadStart
	routeUpload
	routeReferrers
)

// route is a parsed /v2/ path.
type route struct {
	kind routeKind
	name string // repository name
	arg  string // reference, digest or upload id
}

// parseRoute parses a path under /v2/. Repository names may contain '/', so
// the endpoint is recognised from the end of the path.
func parseRoute(path string) route {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			return route{kind: routeBase}
		}
		return route{}
	}
	switch rest {
	case "":
		return route{kind: routeBase}
	case "_catalog":
		return route{kind: routeCatalog}
	}
	if name, ok := strings.CutSuffix(rest, "/tags/list"); ok {
		return route{kind: routeTags, name: name}
	}
	if name, ok := strings.CutSuffix(rest, "/blobs/uploads/"); ok {
		return route{kind: routeUploadStart, name: name}
	}
	if name, ok := strings.CutSuffix(rest, "/blobs/uploads"); ok {
		return route{kind: routeUploadStart, name: name}
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return route{}
	}
	head, last := rest[:i], rest[i+1:]
	if last == "" {
		return route{}
	}
	if name, ok := strings.CutSuffix(head, "/blobs/uploads"); ok {
		return route{kind: routeUpload, name: name, arg: last}
	}
	j := strings.LastIndexByte(head, '/')
	if j <= 0 {
		return route{}
	}
	name, verb := head[:j], head[j+1:]
	switch verb {
	case "manifests":
		return route{kind: routeManifest, name: name, arg: last}
	case "blobs":
		return route{kind: routeBlob, name: name, arg: last}
	case "referrers":
		return route{kind: routeReferrers, name: name, arg: last}
	}
	return route{}
}

// RouteClass names the kind of /v2/ endpoint a path is, for metrics: base,
// catalog, tags, manifest, blob, upload, referrers or unknown.
func RouteClass(path string) string {
	switch parseRoute(path).kind {
	case routeBase:
		return "base"
	case routeCatalog:
		return "catalog"
	case routeTags:
		return "tags"
	case routeManifest:
		return "manifest"
	case routeBlob:
		return "blob"
	case routeUploadStart, routeUpload:
		return "upload"
	case routeReferrers:
		return "referrers"
	}
	return "unknown"
}
