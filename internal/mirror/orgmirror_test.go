package mirror

import (
	"slices"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

func (e *env) discoverer() *Discoverer {
	return &Discoverer{Meta: e.db, Box: e.box, Log: e.syncer.Log}
}

func (e *env) orgMirror(t *testing.T, registry, namespace string, mod func(*store.OrgMirrorConfig)) int64 {
	t.Helper()
	robot, err := e.db.User(t.Context(), "acme+mirror")
	if err != nil {
		t.Fatal(err)
	}
	c := store.OrgMirrorConfig{IsEnabled: true, ExternalRegistry: registry, ExternalNamespace: namespace,
		RepositoryFilter: []string{"*"}, RobotID: robot.ID, SyncInterval: 3600, RuleValue: []string{"*"},
		RegistryConfig: []byte(`{"verify_tls":true}`), DeleteObsoleteTags: true}
	if mod != nil {
		mod(&c)
	}
	if err := e.db.CreateOrgMirror(t.Context(), "acme", c); err != nil {
		t.Fatal(err)
	}
	m, err := e.db.OrgMirror(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	return m.NamespaceID
}

// repoMirrors lists the organization's repositories that have a mirror.
func (e *env) repoMirrors(t *testing.T, names ...string) map[string]store.Mirror {
	t.Helper()
	out := map[string]store.Mirror{}
	for _, n := range names {
		m, err := e.db.Mirror(t.Context(), "acme/"+n)
		if core.IsCode(err, core.CodeNameUnknown) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[n] = m
	}
	return out
}

// An organization mirror of go-containerregistry's registry: the catalog
// is read, the filter applies below the namespace, each matching
// repository becomes a MIRROR repository whose own mirror then syncs, a
// repository that appears upstream later is picked up by the next
// discovery, and existing repositories are left alone.
func TestOrgMirrorDiscoversCatalog(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	_, dApp := pushImage(t, up.host+"/team/app:v1", 1)
	pushImage(t, up.host+"/team/tool:v1", 1)
	pushImage(t, up.host+"/team/nested/lib:v1", 1)
	pushImage(t, up.host+"/other/app:v1", 1)
	pushImage(t, up.host+"/team/mirrored:v1", 1) // acme/mirrored exists already
	nsID := e.orgMirror(t, up.host, "team", func(c *store.OrgMirrorConfig) {
		c.RepositoryFilter = []string{"app*", "nested/*", "mirrored"}
	})
	d := e.discoverer()
	if err := d.Run(t.Context(), store.OrgMirrorArgs{NamespaceID: nsID}); err != nil {
		t.Fatal(err)
	}
	got := e.repoMirrors(t, "app", "tool", "nested/lib")
	if len(got) != 2 || got["app"].ExternalReference != up.host+"/team/app" ||
		got["nested/lib"].ExternalReference != up.host+"/team/nested/lib" {
		t.Fatalf("repository mirrors after discovery: %v", got)
	}
	app := got["app"]
	if app.RepositoryState != core.RepoStateMirror || app.RobotUsername != "acme+mirror" || !app.IsEnabled ||
		!slices.Equal(app.RuleValue, []string{"*"}) || app.SyncStartDate.After(time.Now()) {
		t.Fatalf("adopted mirror: %+v", app)
	}
	if m, err := e.db.Mirror(t.Context(), e.repo); err == nil {
		t.Fatalf("the existing repository got a mirror: %+v", m)
	}
	// The adopted repository's mirror syncs like any other.
	e.repo = "acme/app"
	e.mustSync(t)
	if tags := e.tags(t); tags["v1"] != dApp {
		t.Fatalf("tags of acme/app: %v", tags)
	}

	// A repository that appears upstream is picked up next time; the
	// others are not created twice.
	pushImage(t, up.host+"/team/app2:v1", 1)
	if err := d.Run(t.Context(), store.OrgMirrorArgs{NamespaceID: nsID}); err != nil {
		t.Fatal(err)
	}
	if got := e.repoMirrors(t, "app", "app2", "nested/lib"); len(got) != 3 {
		t.Fatalf("after the second discovery: %v", got)
	}
	om, err := e.db.OrgMirror(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if om.RepositoriesCreated != 3 || om.LastDiscovery.IsZero() || om.LastError != "" {
		t.Fatalf("organization mirror state: %+v", om)
	}

	// An upstream that is down is recorded, not fatal.
	up.failAfter.Store(0)
	if err := d.Run(t.Context(), store.OrgMirrorArgs{NamespaceID: nsID}); err != nil {
		t.Fatal(err)
	}
	if om, _ = e.db.OrgMirror(t.Context(), "acme"); om.LastError == "" {
		t.Fatal("a failed discovery left no error")
	}
}

// With a configured list of repositories the catalog is not read (the
// CNCF distribution registry with basic auth, whose catalog needs it).
func TestOrgMirrorConfiguredList(t *testing.T) {
	e := newEnv(t)
	addr := startDistribution(t, "mirror", "s3cret-pass")
	authOpt := basicAuth("mirror", "s3cret-pass")
	pushImage(t, addr+"/team/one:v1", 1, authOpt)
	pushImage(t, addr+"/team/two:v1", 1, authOpt)
	user, pass := e.seal(t, "mirror"), e.seal(t, "s3cret-pass")
	nsID := e.orgMirror(t, addr, "team", func(c *store.OrgMirrorConfig) {
		c.Repositories = []string{"one"}
		c.UsernameEnc, c.PasswordEnc = user, pass
	})
	d := e.discoverer()
	if err := d.Run(t.Context(), store.OrgMirrorArgs{NamespaceID: nsID}); err != nil {
		t.Fatal(err)
	}
	got := e.repoMirrors(t, "one", "two")
	if len(got) != 1 || got["one"].PasswordEnc != pass {
		t.Fatalf("repository mirrors: %v", got)
	}
	e.repo = "acme/one"
	e.mustSync(t)
	if len(e.tags(t)) != 1 {
		t.Fatalf("tags of acme/one: %v", e.tags(t))
	}

	// The catalog of the same upstream, read with the credentials.
	m, err := e.db.OrgMirrorByID(t.Context(), nsID)
	if err != nil {
		t.Fatal(err)
	}
	m.Repositories = nil
	repos, err := d.Discover(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 2 || repos[0].Name != "one" || repos[1].Name != "two" {
		t.Fatalf("catalog discovery: %v", repos)
	}
}

// A disabled organization mirror discovers nothing.
func TestOrgMirrorDisabled(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	pushImage(t, up.host+"/team/app:v1", 1)
	nsID := e.orgMirror(t, up.host, "team", func(c *store.OrgMirrorConfig) { c.IsEnabled = false })
	if err := e.discoverer().Run(t.Context(), store.OrgMirrorArgs{NamespaceID: nsID}); err != nil {
		t.Fatal(err)
	}
	if got := e.repoMirrors(t, "app"); len(got) != 0 {
		t.Fatalf("a disabled organization mirror created %v", got)
	}
}

func TestOrgMirrorValidation(t *testing.T) {
	v := Validator{}
	for _, tc := range []struct {
		registry, namespace string
		ok                  bool
	}{
		{"quay.io", "team", true},
		{"127.0.0.1:5000", "team/images", true},
		{"quay.io/x", "team", false},
		{"quay.io", "", false},
		{"quay.io", "/team", false},
		{"quay.io", "team/", false},
		{"quay", "team", false},
		{"quay.io", "Team", false},
	} {
		if err := v.OrgSource(tc.registry, tc.namespace); (err == nil) != tc.ok {
			t.Errorf("OrgSource(%q, %q) = %v, want ok %v", tc.registry, tc.namespace, err, tc.ok)
		}
	}
	if f, err := v.RepositoryFilter(nil); err != nil || !slices.Equal(f, []string{"*"}) {
		t.Errorf("empty filter: %v, %v", f, err)
	}
	if _, err := v.RepositoryFilter([]string{"[a"}); err == nil {
		t.Error("a bad glob was accepted")
	}
	if n, err := v.RepositoryNames([]string{" one ", "nested/two"}); err != nil || !slices.Equal(n, []string{"one", "nested/two"}) {
		t.Errorf("names: %v, %v", n, err)
	}
	for _, bad := range []string{"", "UPPER", "a//b", "../x"} {
		if _, err := v.RepositoryNames([]string{bad}); err == nil {
			t.Errorf("repository name %q accepted", bad)
		}
	}
}

func FuzzOrgMirrorInputs(f *testing.F) {
	f.Add("quay.io", "team", "app*", "nested/lib")
	f.Add("127.0.0.1:5000", "a/b", "[", "UP")
	f.Fuzz(func(t *testing.T, registry, namespace, pattern, repo string) {
		v := Validator{}
		if v.OrgSource(registry, namespace) == nil {
			if _, err := ParseExternalReference(registry + "/" + namespace + "/x"); err != nil {
				t.Fatalf("accepted %q %q, but its repositories are invalid: %v", registry, namespace, err)
			}
		}
		if pats, err := v.RepositoryFilter([]string{pattern}); err == nil {
			MatchTag(pats, repo)
		}
		if names, err := v.RepositoryNames([]string{repo}); err == nil {
			for _, n := range names {
				if oci.ValidateName("acme/"+n) != nil {
					t.Fatalf("accepted repository name %q", n)
				}
			}
		}
	})
}
