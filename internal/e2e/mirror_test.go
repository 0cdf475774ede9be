package e2e

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestMirrorAndAirGap mirrors an upstream registry (go-containerregistry's,
// with a signature attached through the referrers API) into wharf A
// through the API and the job queue, checks the success notification and
// that users cannot push to the mirror, then carries the repository to a
// fresh wharf B with `wharf admin export` and `wharf admin import` and
// pulls it from B with crane.
func TestMirrorAndAirGap(t *testing.T) {
	requireTool(t, "crane")
	up := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(up.Close)
	upHost := strings.TrimPrefix(up.URL, "http://")
	upRepo, err := name.NewRepository(upHost+"/library/app", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d1 := mirrorPush(t, upRepo.Tag("v1"))
	d2 := mirrorPush(t, upRepo.Tag("v2"))
	mirrorPush(t, upRepo.Tag("skip"))
	sig := mirrorSign(t, upRepo, d1)

	// Wharf A: an organization, a robot with write, a MIRROR repository.
	a := startServerEnv(t, []string{"WHARF_REPO_MIRROR_INTERVAL=1s"})
	const adminPass = "admin-password-mirror1"
	token := mirrorInit(t, a, adminPass)
	apiJSON(t, a, token, "POST", "/api/v1/organization/", map[string]any{"name": "acme", "email": "acme@example.com"}, 201)
	apiJSON(t, a, token, "PUT", "/api/v1/organization/acme/robots/syncer", map[string]any{"description": "mirror"}, 201)
	apiJSON(t, a, token, "POST", "/api/v1/repository", map[string]any{"namespace": "acme", "repository": "app", "visibility": "private", "description": ""}, 201)
	apiJSON(t, a, token, "PUT", "/api/v1/repository/acme/app/permissions/user/acme+syncer", map[string]any{"role": "write"}, 200)
	apiJSON(t, a, token, "PUT", "/api/v1/repository/acme/app/changestate", map[string]any{"state": "MIRROR"}, 200)

	// Quay's webhook payload is the event's data with the repository's; a
	// mirror event's message names the upstream.
	hooks := make(chan map[string]any, 8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		select {
		case hooks <- body:
		default:
		}
	}))
	t.Cleanup(hook.Close)
	for _, ev := range []string{"repo_mirror_sync_started", "repo_mirror_sync_success"} {
		apiJSON(t, a, token, "POST", "/api/v1/repository/acme/app/notification/", map[string]any{
			"event": ev, "method": "webhook", "config": map[string]any{"url": hook.URL}, "eventConfig": map[string]any{}, "title": ev}, 201)
	}

	path := "/api/v1/repository/acme/app/mirror"
	apiJSON(t, a, token, "POST", path, map[string]any{
		"external_reference": upHost + "/library/app", "sync_interval": 86400,
		"sync_start_date": time.Now().Add(24 * time.Hour).UTC().Format("2006-01-02T15:04:05Z"),
		"robot_username":  "acme+syncer", "root_rule": map[string]any{"rule_kind": "tag_glob_csv", "rule_value": []string{"v*"}},
		"external_registry_config": map[string]any{"verify_tls": false},
	}, 201)
	apiJSON(t, a, token, "POST", path+"/sync-now", nil, 204)
	var view map[string]any
	deadline := time.Now().Add(60 * time.Second)
	for {
		view = apiJSON(t, a, token, "GET", path, nil, 200)
		if s := view["sync_status"]; s == "SUCCESS" || s == "FAIL" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sync did not finish: %v", view)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if view["sync_status"] != "SUCCESS" || view["tags_synced"] != float64(2) || view["last_sync_end"] == nil {
		t.Fatalf("mirror after the sync: %v", view)
	}
	withTags := 0
	for i := 0; i < 2; i++ {
		select {
		case body := <-hooks:
			if msg, _ := body["message"].(string); !strings.Contains(msg, upHost+"/library/app") || body["repository"] != "acme/app" {
				t.Fatalf("webhook payload %v", body)
			}
			if tags, _ := body["tags"].([]any); len(tags) == 2 {
				withTags++ // the success event lists the synced tags
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of 2 webhooks received", i)
		}
	}
	if withTags != 1 {
		t.Fatalf("%d success payloads with the synced tags, want 1", withTags)
	}

	// A mirror whose start date has come is synced by the periodic
	// scheduler, without sync-now.
	apiJSON(t, a, token, "POST", "/api/v1/repository", map[string]any{"namespace": "acme", "repository": "sched", "visibility": "private", "description": ""}, 201)
	apiJSON(t, a, token, "PUT", "/api/v1/repository/acme/sched/permissions/user/acme+syncer", map[string]any{"role": "write"}, 200)
	apiJSON(t, a, token, "PUT", "/api/v1/repository/acme/sched/changestate", map[string]any{"state": "MIRROR"}, 200)
	apiJSON(t, a, token, "POST", "/api/v1/repository/acme/sched/mirror", map[string]any{
		"external_reference": upHost + "/library/app", "sync_interval": 3600,
		"sync_start_date": time.Now().Add(-time.Minute).UTC().Format("2006-01-02T15:04:05Z"),
		"robot_username":  "acme+syncer", "root_rule": map[string]any{"rule_kind": "tag_glob_csv", "rule_value": []string{"v2"}},
	}, 201)
	deadline = time.Now().Add(60 * time.Second)
	for {
		view = apiJSON(t, a, token, "GET", "/api/v1/repository/acme/sched/mirror", nil, 200)
		if view["sync_status"] == "SUCCESS" && view["tags_synced"] == float64(1) {
			break
		}
		if view["sync_status"] == "FAIL" || time.Now().After(deadline) {
			t.Fatalf("the scheduled sync did not succeed: %v", view)
		}
		time.Sleep(200 * time.Millisecond)
	}

	c := newClientRun(t, a, "admin", adminPass)
	c.login(t, "crane", "auth", "login", a.Host, "-u", "admin", "--password-stdin")
	if d := c.craneDigest(t, a.Host+"/acme/app:v1"); d != d1 {
		t.Fatalf("A serves v1 as %s, upstream %s", d, d1)
	}
	if _, err := c.execTool(t, clientCmdOpt{}, "crane", "--insecure", "digest", a.Host+"/acme/app:skip"); err == nil {
		t.Fatal("a tag outside the filter was mirrored")
	}
	// Nobody pushes into a mirror, not even its administrator.
	out, err := c.execTool(t, clientCmdOpt{}, "crane", "--insecure", "copy", a.Host+"/acme/app:v1", a.Host+"/acme/app:mine")
	if err == nil {
		t.Fatalf("a push to a MIRROR repository succeeded: %s", out)
	}
	if !strings.Contains(err.Error(), "DENIED") || !strings.Contains(err.Error(), "mirror") {
		t.Fatalf("a push to a MIRROR repository failed otherwise: %v", err)
	}

	// Export from A while it runs; import into a fresh B.
	layout := filepath.Join(t.TempDir(), "acme-app.tar")
	mirrorAdmin(t, "export", "acme/app", "--output", layout, "--data", a.DataDir)
	b := startServer(t)
	tokenB := mirrorInit(t, b, adminPass)
	apiJSON(t, b, tokenB, "POST", "/api/v1/organization/", map[string]any{"name": "offline", "email": "offline@example.com"}, 201)
	mirrorAdmin(t, "import", layout, "--namespace", "offline", "--data", b.DataDir)
	mirrorAdmin(t, "import", layout, "--namespace", "offline", "--data", b.DataDir) // idempotent

	cb := newClientRun(t, b, "admin", adminPass)
	cb.login(t, "crane", "auth", "login", b.Host, "-u", "admin", "--password-stdin")
	for tag, want := range map[string]string{"v1": d1, "v2": d2} {
		if d := cb.craneDigest(t, b.Host+"/offline/app:"+tag); d != want {
			t.Fatalf("B serves %s as %s, want %s", tag, d, want)
		}
	}
	cb.crane(t, "pull", b.Host+"/offline/app:v1", filepath.Join(cb.work, "v1.tar"))
	if tags := strings.Fields(string(cb.crane(t, "ls", b.Host+"/offline/app"))); len(tags) != 2 {
		t.Fatalf("B lists tags %v", tags)
	}
	refRepo, err := name.NewRepository(b.Host+"/offline/app", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash(d1)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Referrers(refRepo.Digest(h.String()), remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPass}),
		remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != sig {
		t.Fatalf("B's referrers of v1: %+v, want the signature %s", im.Manifests, sig)
	}
}

func mirrorInit(t *testing.T, srv *server, password string) string {
	t.Helper()
	init := apiJSON(t, srv, "", "POST", "/api/v1/user/initialize",
		map[string]any{"username": "admin", "password": password, "email": "admin@example.com", "access_token": true}, 200)
	token, _ := init["access_token"].(string)
	if token == "" {
		t.Fatalf("initialize returned no token: %v", init)
	}
	return token
}

// mirrorAdmin runs a wharf admin subcommand that must succeed.
func mirrorAdmin(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), wharfBin, append([]string{"admin"}, args...)...)
	out, err := cmd.CombinedOutput()
	t.Logf("$ wharf admin %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("wharf admin %s: %v", args[0], err)
	}
}

func mirrorPush(t *testing.T, ref name.Reference) string {
	t.Helper()
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// mirrorSign attaches a cosign-style signature (an artifact whose subject
// is the image) and returns its digest.
func mirrorSign(t *testing.T, repo name.Repository, subject string) string {
	t.Helper()
	desc, err := remote.Head(repo.Digest(subject), remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	sig := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	sig = mutate.ConfigMediaType(sig, "application/vnd.dev.cosign.artifact.sig.v1+json")
	sig, err = mutate.Append(sig, mutate.Addendum{Layer: static.NewLayer([]byte("signature"), "application/vnd.dev.cosign.simplesigning.v1+json")})
	if err != nil {
		t.Fatal(err)
	}
	sig = mutate.Subject(sig, *desc).(v1.Image)
	d, err := sig.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Digest(d.String()), sig, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// TestOrgMirror mirrors an upstream namespace into an organization through
// the API and the job queue: the discovery creates a MIRROR repository per
// matching upstream repository, whose mirror then syncs; each step is in
// the repository's audit log once.
func TestOrgMirror(t *testing.T) {
	requireTool(t, "crane")
	up := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(up.Close)
	upHost := strings.TrimPrefix(up.URL, "http://")
	digests := map[string]string{}
	for _, repo := range []string{"team/app", "team/tool", "team/skip-me", "other/app"} {
		r, err := name.NewRepository(upHost+"/"+repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		digests[repo] = mirrorPush(t, r.Tag("v1"))
	}

	a := startServerEnv(t, []string{"WHARF_REPO_MIRROR_INTERVAL=1s"})
	const adminPass = "admin-password-orgmirror"
	token := mirrorInit(t, a, adminPass)
	apiJSON(t, a, token, "POST", "/api/v1/organization/", map[string]any{"name": "acme", "email": "acme@example.com"}, 201)
	apiJSON(t, a, token, "PUT", "/api/v1/organization/acme/robots/syncer", map[string]any{"description": "mirror"}, 201)
	apiJSON(t, a, token, "POST", "/api/v1/organization/acme/mirror", map[string]any{
		"external_registry": upHost, "external_namespace": "team", "repository_filter": []string{"app", "tool"},
		"sync_interval": 86400, "robot_username": "acme+syncer",
		"root_rule":                map[string]any{"rule_kind": "tag_glob_csv", "rule_value": []string{"v*"}},
		"external_registry_config": map[string]any{"verify_tls": false},
	}, 201)

	for _, repo := range []string{"app", "tool"} {
		path := "/api/v1/repository/acme/" + repo + "/mirror"
		deadline := time.Now().Add(60 * time.Second)
		for {
			view := apiJSON(t, a, token, "GET", "/api/v1/organization/acme/mirror", nil, 200)
			if view["repositories_created"] == float64(2) {
				v := apiJSON(t, a, token, "GET", path, nil, 200)
				if v["sync_status"] == "SUCCESS" && v["tags_synced"] == float64(1) {
					break
				}
				if v["sync_status"] == "FAIL" {
					t.Fatalf("the sync of acme/%s failed: %v", repo, v)
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("acme/%s was not mirrored: %v", repo, view)
			}
			time.Sleep(200 * time.Millisecond)
		}
		logs := apiJSON(t, a, token, "GET", "/api/v1/repository/acme/"+repo+"/logs", nil, 200)
		kinds := map[string]int{}
		for _, l := range logs["logs"].([]any) {
			kinds[l.(map[string]any)["kind"].(string)]++
		}
		for _, k := range []string{"create_repo", "repo_mirror_enabled", "repo_mirror_sync_started", "repo_mirror_sync_success"} {
			if kinds[k] != 1 {
				t.Fatalf("acme/%s audit log: %d %s entries, want 1 (%v)", repo, kinds[k], k, kinds)
			}
		}
	}
	apiJSON(t, a, token, "GET", "/api/v1/repository/acme/skip-me", nil, 404)

	c := newClientRun(t, a, "admin", adminPass)
	c.login(t, "crane", "auth", "login", a.Host, "-u", "admin", "--password-stdin")
	if d := c.craneDigest(t, a.Host+"/acme/app:v1"); d != digests["team/app"] {
		t.Fatalf("acme/app:v1 is %s, upstream team/app:v1 %s", d, digests["team/app"])
	}
}
