package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// autopruneTests cover auto-prune policies and pruning.
var autopruneTests = []struct {
	name string
	fn   func(t *testing.T, db *store.DB)
}{
	{"AutoprunePolicyCRUD", testAutoprunePolicyCRUD},
	{"AutopruneNumberOfTags", testAutopruneNumberOfTags},
	{"AutopruneCreationDateAndDefaults", testAutopruneCreationDate},
}

func currentTags(t *testing.T, db *store.DB, repo string) []string {
	t.Helper()
	tags, err := db.Tags(t.Context(), repo, "", 0)
	noErr(t, err, "Tags")
	return tags
}

func prune(t *testing.T, db *store.DB, repo string, defaults ...core.AutoprunePolicy) []string {
	t.Helper()
	r, err := db.Repository(t.Context(), repo)
	noErr(t, err, "Repository")
	pruned, err := db.PruneRepository(t.Context(), r.ID, defaults)
	noErr(t, err, "PruneRepository")
	slices.Sort(pruned)
	return pruned
}

func testAutoprunePolicyCRUD(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, err := db.CreateOrganization(ctx, "acme", "", 0)
	noErr(t, err, "CreateOrganization")
	image{repo: "acme/app", seed: "one", tags: []string{"v1"}}.push(t, db)
	image{repo: "org/app", seed: "one", tags: []string{"v1"}}.push(t, db)

	a, err := db.CreateAutoprunePolicy(ctx, core.AutoprunePolicy{Namespace: "acme", Method: core.PruneByNumberOfTags, Value: "5"})
	noErr(t, err, "create")
	if a.UUID == "" {
		t.Fatal("no uuid")
	}
	for _, bad := range []core.AutoprunePolicy{
		{Namespace: "acme", Method: "by_size", Value: "5"},
		{Namespace: "acme", Method: core.PruneByNumberOfTags, Value: "0"},
		{Namespace: "acme", Method: core.PruneByNumberOfTags, Value: "2w"},
		{Namespace: "acme", Method: core.PruneByCreationDate, Value: "5"},
		{Namespace: "acme", Method: core.PruneByCreationDate, Value: "2w", TagPattern: "("},
		{Namespace: "acme", Method: core.PruneByNumberOfTags, Value: "5"}, // duplicate
	} {
		_, err := db.CreateAutoprunePolicy(ctx, bad)
		wantCode(t, err, core.CodeInvalid)
	}
	_, err = db.CreateAutoprunePolicy(ctx, core.AutoprunePolicy{Namespace: "nobody", Method: core.PruneByNumberOfTags, Value: "1"})
	wantCode(t, err, core.CodeNotFound)
	_, err = db.CreateAutoprunePolicy(ctx, core.AutoprunePolicy{Namespace: "acme", Repository: "org/app", Method: core.PruneByNumberOfTags, Value: "1"})
	wantCode(t, err, core.CodeNameUnknown)
	r, err := db.CreateAutoprunePolicy(ctx, core.AutoprunePolicy{Namespace: "acme", Repository: "acme/app",
		Method: core.PruneByCreationDate, Value: "2w", TagPattern: "dev-.*", TagPatternMatches: true})
	noErr(t, err, "create repository policy")

	list, err := db.AutoprunePolicies(ctx, "acme", "")
	noErr(t, err, "list")
	if len(list) != 1 || list[0].UUID != a.UUID || list[0].Value != "5" {
		t.Fatalf("namespace policies %+v", list)
	}
	list, err = db.AutoprunePolicies(ctx, "acme", "acme/app")
	noErr(t, err, "list repository")
	if len(list) != 1 || list[0] != r {
		t.Fatalf("repository policies %+v, want %+v", list, r)
	}
	_, err = db.AutoprunePolicy(ctx, "acme", "", r.UUID) // a repository policy is not the namespace's
	wantCode(t, err, core.CodeNotFound)

	a.Method, a.Value, a.TagPattern, a.TagPatternMatches = core.PruneByCreationDate, "1y", "v.*", false
	noErr(t, db.UpdateAutoprunePolicy(ctx, a), "update")
	got, err := db.AutoprunePolicy(ctx, "acme", "", a.UUID)
	noErr(t, err, "get")
	if got != a {
		t.Fatalf("after update %+v, want %+v", got, a)
	}
	wantCode(t, db.UpdateAutoprunePolicy(ctx, core.AutoprunePolicy{Namespace: "acme", UUID: "nope", Method: core.PruneByNumberOfTags, Value: "1"}), core.CodeNotFound)
	wantCode(t, db.DeleteAutoprunePolicy(ctx, "acme", "acme/app", a.UUID), core.CodeNotFound)
	noErr(t, db.DeleteAutoprunePolicy(ctx, "acme", "", a.UUID), "delete")
	wantCode(t, db.DeleteAutoprunePolicy(ctx, "acme", "", a.UUID), core.CodeNotFound)

	ids, err := db.AutopruneRepositories(ctx, false, 0, 10)
	noErr(t, err, "AutopruneRepositories")
	app, err := db.Repository(ctx, "acme/app")
	noErr(t, err, "Repository")
	if len(ids) != 1 || ids[0] != app.ID {
		t.Fatalf("repositories with policies %v, want [%d]", ids, app.ID)
	}
	ids, err = db.AutopruneRepositories(ctx, true, 0, 10)
	noErr(t, err, "AutopruneRepositories all")
	if len(ids) != 2 {
		t.Fatalf("all repositories %v", ids)
	}
}

func testAutopruneNumberOfTags(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, err := db.CreateOrganization(ctx, "acme", "", 0)
	noErr(t, err, "CreateOrganization")
	// Oldest first: v1, v2, dev-1, v3, dev-2, dev-3, keep.
	for i, tag := range []string{"v1", "v2", "dev-1", "v3", "dev-2", "dev-3", "keep"} {
		image{repo: "acme/app", seed: tag, tags: []string{tag}}.push(t, db)
		if i == 0 {
			image{repo: "acme/other", seed: tag, tags: []string{"a", "b", "c"}}.push(t, db)
		}
		tick()
	}
	if got := prune(t, db, "acme/app"); len(got) != 0 {
		t.Fatalf("pruned %v without policies", got)
	}
	noErr(t, db.ChangeTag(ctx, "acme/app", "v1", store.TagChange{Immutable: ptr(true)}), "make v1 immutable")

	// Repository: keep the two newest dev-* tags.
	_, err = db.CreateAutoprunePolicy(ctx, core.AutoprunePolicy{Namespace: "acme", Repository: "acme/app",
		Method: core.PruneByNumberOfTags, Value: "2", TagPattern: "dev-.*", TagPatternMatches: true})
	noErr(t, err, "repository policy")
	// Namespace: keep the newest three tags that are not dev-*; v1 is
	// immutable, so it neither goes nor counts.
	_, err = db.CreateAutoprunePolicy(ctx, core.AutoprunePolicy{Namespace: "acme",
		Method: core.PruneByNumberOfTags, Value: "2", TagPattern: "dev-.*", TagPatternMatches: false})
	noErr(t, err, "namespace policy")

	if got, want := prune(t, db, "acme/app"), []string{"dev-1", "v2"}; !slices.Equal(got, want) {
		t.Fatalf("pruned %v, want %v", got, want)
	}
	if got, want := currentTags(t, db, "acme/app"), []string{"dev-2", "dev-3", "keep", "v1", "v3"}; !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
	// The namespace policy applies to the other repository too.
	if got, want := prune(t, db, "acme/other"), []string{"a"}; !slices.Equal(got, want) {
		t.Fatalf("pruned in other %v, want %v", got, want)
	}
	// Pruned tags are history, restorable within the window.
	tags := history(t, db, "acme/app", store.TagHistoryQuery{Name: "v2"})
	if len(tags) != 1 || tags[0].End.IsZero() {
		t.Fatalf("history of v2: %+v", tags)
	}
	// Running again prunes nothing more.
	if got := prune(t, db, "acme/app"); len(got) != 0 {
		t.Fatalf("second run pruned %v", got)
	}
}

func testAutopruneCreationDate(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, err := db.CreateOrganization(ctx, "acme", "", 0)
	noErr(t, err, "CreateOrganization")
	image{repo: "acme/app", seed: "old", tags: []string{"old", "old-locked", "dev-old"}}.push(t, db)
	image{repo: "org/app", seed: "old", tags: []string{"old", "older", "oldest"}}.push(t, db)
	noErr(t, db.ChangeTag(ctx, "acme/app", "old-locked", store.TagChange{Immutable: ptr(true)}), "make old-locked immutable")
	time.Sleep(1100 * time.Millisecond)
	image{repo: "acme/app", seed: "new", tags: []string{"new", "dev-new"}}.push(t, db)

	// Prune tags older than a second that do not start with dev-.
	_, err = db.CreateAutoprunePolicy(ctx, core.AutoprunePolicy{Namespace: "acme", Repository: "acme/app",
		Method: core.PruneByCreationDate, Value: "1s", TagPattern: "dev-.*", TagPatternMatches: false})
	noErr(t, err, "policy")
	defaults := []core.AutoprunePolicy{{Method: core.PruneByNumberOfTags, Value: "2"}}
	// The registry default applies too (acme has no namespace policy), to
	// what the repository policy left: dev-old, new, dev-new.
	if got, want := prune(t, db, "acme/app", defaults...), []string{"dev-old", "old"}; !slices.Equal(got, want) {
		t.Fatalf("pruned %v, want %v", got, want)
	}
	if got, want := currentTags(t, db, "acme/app"), []string{"dev-new", "new", "old-locked"}; !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
	if got := prune(t, db, "org/app"); len(got) != 0 {
		t.Fatalf("pruned %v without policies", got)
	}
	if got := prune(t, db, "org/app", defaults...); len(got) != 1 {
		t.Fatalf("default pruned %v, want one tag", got)
	}
	// A namespace policy replaces the default.
	_, err = db.CreateOrganization(ctx, "beta", "", 0)
	noErr(t, err, "CreateOrganization")
	image{repo: "beta/app", seed: "x", tags: []string{"a", "b", "c"}}.push(t, db)
	_, err = db.CreateAutoprunePolicy(ctx, core.AutoprunePolicy{Namespace: "beta", Method: core.PruneByNumberOfTags, Value: "2"})
	noErr(t, err, "beta policy")
	if got := prune(t, db, "beta/app", defaults...); len(got) != 1 {
		t.Fatalf("beta pruned %v, want one tag", got)
	}
}

func ptr[T any](v T) *T { return &v }
