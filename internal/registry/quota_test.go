package registry

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
)

// Over the Reject threshold, blob uploads are refused before their bytes
// are accepted (monolithic with a Content-Length) or before they are
// committed (chunked uploads), and manifests whose new blobs do not fit are
// refused: 403 DENIED naming the quota.
func TestQuotaRejects(t *testing.T) {
	e := newEnv(t, Options{AllowSparseManifests: false})
	ctx := t.Context()
	if _, err := e.db.CreateOrganization(ctx, "org", "", 0); err != nil {
		t.Fatal(err)
	}
	e.pushImage("org/app", "latest", "one")
	used, _, err := e.db.NamespaceUsage(ctx, "org")
	if err != nil || used == 0 {
		t.Fatalf("usage %d, %v", used, err)
	}
	q, err := e.db.CreateQuota(ctx, "org", used+20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateQuotaLimit(ctx, "org", q.ID, core.QuotaReject, 100); err != nil {
		t.Fatal(err)
	}
	big := []byte(strings.Repeat("x", 21))
	d := digest.FromBytes(big)
	r := e.send(http.MethodPost, "/v2/org/app/blobs/uploads/?digest="+string(d), big).want(t, http.StatusForbidden, "DENIED")
	if !strings.Contains(string(r.body), "Quota has been exceeded on namespace org") {
		t.Fatalf("body %s", r.body)
	}
	loc := e.startUpload("org/app")
	e.send(http.MethodPatch, loc, big).want(t, http.StatusAccepted, "")
	e.send(http.MethodPut, loc+"?digest="+string(d), nil).want(t, http.StatusForbidden, "DENIED")
	e.get("/v2/org/app/blobs/"+string(d)).want(t, http.StatusNotFound, "BLOB_UNKNOWN")
	// Small blobs fit one by one (14 and 9 bytes); the manifest that
	// references both would take usage 3 bytes over and is refused.
	doc := e.imageManifest("org/app", "two")
	r, _ = e.putManifest("org/app", "two", doc)
	r.want(t, http.StatusForbidden, "DENIED")
	e.get("/v2/org/app/manifests/two").want(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
	if used2, _, _ := e.db.NamespaceUsage(ctx, "org"); used2 != used {
		t.Fatalf("usage %d after a refused push, want %d", used2, used)
	}
	// Pulls and deletes go on.
	e.get("/v2/org/app/manifests/latest").want(t, http.StatusOK, "")
	e.del("/v2/org/app/manifests/latest").want(t, http.StatusAccepted, "")
}
