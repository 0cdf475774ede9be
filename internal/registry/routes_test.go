package registry

import "testing"

func TestParseRoute(t *testing.T) {
	const d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct {
		path string
		want route
	}{
		{"/v2/", route{kind: routeBase}},
		{"/v2", route{kind: routeBase}},
		{"/v2/_catalog", route{kind: routeCatalog}},
		{"/v2/app/tags/list", route{kind: routeTags, name: "app"}},
		{"/v2/org/team/app/tags/list", route{kind: routeTags, name: "org/team/app"}},
		{"/v2/org/app/manifests/latest", route{kind: routeManifest, name: "org/app", arg: "latest"}},
		{"/v2/org/app/manifests/" + d, route{kind: routeManifest, name: "org/app", arg: d}},
		{"/v2/a/b/c/d/manifests/v1", route{kind: routeManifest, name: "a/b/c/d", arg: "v1"}},
		{"/v2/org/app/blobs/" + d, route{kind: routeBlob, name: "org/app", arg: d}},
		{"/v2/org/app/blobs/uploads/", route{kind: routeUploadStart, name: "org/app"}},
		{"/v2/org/app/blobs/uploads", route{kind: routeUploadStart, name: "org/app"}},
		{"/v2/org/app/blobs/uploads/abc-123", route{kind: routeUpload, name: "org/app", arg: "abc-123"}},
		{"/v2/org/app/referrers/" + d, route{kind: routeReferrers, name: "org/app", arg: d}},
		// Repository names that look like endpoint words.
		{"/v2/manifests/manifests/manifests", route{kind: routeManifest, name: "manifests", arg: "manifests"}},
		{"/v2/blobs/blobs/uploads/", route{kind: routeUploadStart, name: "blobs"}},
		{"/v2/tags/list/tags/list", route{kind: routeTags, name: "tags/list"}},
		{"/v2/org/blobs/app/blobs/" + d, route{kind: routeBlob, name: "org/blobs/app", arg: d}},
		{"/v2/_catalog/manifests/latest", route{kind: routeManifest, name: "_catalog", arg: "latest"}},
		// Unknown paths. The name is left for dispatch to validate.
		{"", route{}},
		{"/", route{}},
		{"/v2x", route{}},
		{"/v1/", route{}},
		{"/v3/_catalog", route{}},
		{"v2/_catalog", route{}},
		{"/v2/_catalog/", route{}},
		{"/v2/app", route{}},
		{"/v2/app/", route{}},
		{"/v2/org/app", route{}},
		{"/v2/org/app/", route{}},
		{"/v2/tags/list", route{}},
		{"/v2/manifests/latest", route{}},
		{"/v2/blobs/" + d, route{}},
		{"/v2/org/app/manifests/", route{}},
		{"/v2/org/app/manifests/latest/", route{}},
		{"/v2/org/app/blobs/", route{}},
		{"/v2/org/app/referrers/", route{}},
		{"/v2//manifests/latest", route{}},
		{"/v2/org/app/unknown/x", route{}},
		{"/v2/org/app/tags/list/", route{}},
		{"/v2/org/app/tags", route{}},
		{"/v2/org/app/blobs/uploads/id/extra", route{}},
		// Empty names parse; dispatch rejects them as NAME_INVALID.
		{"/v2//tags/list", route{kind: routeTags}},
		{"/v2//blobs/uploads/x", route{kind: routeUpload, arg: "x"}},
		{"/v2/a//manifests/x", route{kind: routeManifest, name: "a/", arg: "x"}},
	}
	for _, tc := range tests {
		if got := parseRoute(tc.path); got != tc.want {
			t.Errorf("parseRoute(%q) = %+v, want %+v", tc.path, got, tc.want)
		}
	}
}

// FuzzParseRoute: parsing never panics, and a recognised route's name and
// argument are substrings that rebuild the path.
func FuzzParseRoute(f *testing.F) {
	for _, p := range []string{"/v2/", "/v2/_catalog", "/v2/a/tags/list", "/v2/a/b/manifests/x", "/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/x", "/v2/a/referrers/x", "/v2//x/y"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt := parseRoute(path)
		var rebuilt []string
		switch rt.kind {
		case routeUnknown, routeBase, routeCatalog:
			if rt.name != "" || rt.arg != "" {
				t.Fatalf("parseRoute(%q) = %+v", path, rt)
			}
			return
		case routeTags:
			rebuilt = []string{"/v2/" + rt.name + "/tags/list"}
		case routeManifest:
			rebuilt = []string{"/v2/" + rt.name + "/manifests/" + rt.arg}
		case routeBlob:
			rebuilt = []string{"/v2/" + rt.name + "/blobs/" + rt.arg}
		case routeReferrers:
			rebuilt = []string{"/v2/" + rt.name + "/referrers/" + rt.arg}
		case routeUploadStart:
			rebuilt = []string{"/v2/" + rt.name + "/blobs/uploads/", "/v2/" + rt.name + "/blobs/uploads"}
		case routeUpload:
			rebuilt = []string{"/v2/" + rt.name + "/blobs/uploads/" + rt.arg}
		}
		if rt.kind != routeTags && rt.kind != routeUploadStart && rt.arg == "" {
			t.Fatalf("parseRoute(%q) = %+v: empty argument", path, rt)
		}
		for _, p := range rebuilt {
			if p == path {
				return
			}
		}
		t.Fatalf("parseRoute(%q) = %+v does not rebuild the path (%q)", path, rt, rebuilt)
	})
}
