package mirror

import (
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// mirrorKinds counts the repository's audit entries of the sync kinds.
func mirrorKinds(t *testing.T, e *env) map[string]int {
	t.Helper()
	r, err := e.db.Repository(t.Context(), e.repo)
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := e.db.AuditLogs(t.Context(), store.AuditFilter{RepositoryID: r.ID,
		Kinds: []string{core.LogRepoMirrorSyncStarted, core.LogRepoMirrorSyncSuccess, core.LogRepoMirrorSyncFailed},
		Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, en := range entries {
		out[en.Kind]++
		if en.Metadata["message"] == nil {
			t.Errorf("%s has no message: %v", en.Kind, en.Metadata)
		}
	}
	return out
}

// A sync run as a job logs its start once (not on a retry) and its end
// once: success, or failure after the retries are spent.
func TestRunAudits(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	base := up.host + "/library/audited"
	pushImage(t, base+":latest", 1)
	e.configure(t, base, []string{"latest"}, nil)
	if err := e.runJob(t, 1); err != nil {
		t.Fatal(err)
	}
	if got := mirrorKinds(t, e); got[core.LogRepoMirrorSyncStarted] != 1 || got[core.LogRepoMirrorSyncSuccess] != 1 || len(got) != 2 {
		t.Fatalf("after a successful sync: %v", got)
	}
	up.failAfter.Store(0)
	for attempt := 1; attempt <= store.MirrorMaxRetries; attempt++ {
		_ = e.runJob(t, attempt)
	}
	if got := mirrorKinds(t, e); got[core.LogRepoMirrorSyncStarted] != 2 || got[core.LogRepoMirrorSyncSuccess] != 1 ||
		got[core.LogRepoMirrorSyncFailed] != 1 {
		t.Fatalf("after a failed sync of %d attempts: %v", store.MirrorMaxRetries, got)
	}
}

// unsigned_images enforces nothing: signatures that are OCI referrers are
// copied whatever its value.
func TestUnsignedImagesCopiesSignatures(t *testing.T) {
	for _, unsigned := range []bool{false, true} {
		e := newEnv(t)
		up := newUpstream(t)
		base := up.host + "/library/signed"
		_, d := pushImage(t, base+":v1", 1)
		sig := pushSignature(t, base, d)
		cfg := `{"verify_tls":true,"unsigned_images":false}`
		if unsigned {
			cfg = `{"verify_tls":true,"unsigned_images":true}`
		}
		e.configure(t, base, []string{"*"}, func(c *store.MirrorConfig) { c.RegistryConfig = []byte(cfg) })
		e.mustSync(t)
		refs, err := e.db.Referrers(t.Context(), e.repo, d, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != 1 || refs[0].Digest != sig {
			t.Fatalf("unsigned_images=%v: referrers %v, want the signature %s", unsigned, refs, sig)
		}
	}
}
