package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// lifecycleTests cover tag history and restore, expiry, immutable tags and
// policies, and the registry-wide state.
var lifecycleTests = []struct {
	name string
	fn   func(t *testing.T, db *store.DB)
}{
	{"TagHistoryMoveDeleteRestore", testTagHistoryRestore},
	{"TagHistoryFilters", testTagHistoryFilters},
	{"RestoreDeletedManifest", testRestoreDeletedManifest},
	{"RestoreOutsideWindow", testRestoreOutsideWindow},
	{"PurgeTag", testPurgeTag},
	{"TagExpiryByLabel", testTagExpiryLabel},
	{"TagExpiryIndexLabels", testTagExpiryIndexLabels},
	{"TagExpiryChangeAndSweep", testTagExpirySweep},
	{"ImmutableTagFlag", testImmutableFlag},
	{"ImmutabilityPolicies", testImmutabilityPolicies},
	{"ImmutabilityPolicyCRUD", testImmutabilityPolicyCRUD},
	{"RegistryStateAndWindow", testRegistryState},
}

const week2 = 14 * 24 * time.Hour

// history lists all rows of repo within a two-week window, newest first.
func history(t *testing.T, db *store.DB, repo string, q store.TagHistoryQuery) []core.Tag {
	t.Helper()
	if q.Window == 0 {
		q.Window = week2
	}
	q.Limit = 100
	tags, _, err := db.TagHistory(t.Context(), repo, q)
	noErr(t, err, "TagHistory "+repo)
	return tags
}

// rows renders history rows as "name>digest-prefix[+flags]" for comparisons.
func rows(tags []core.Tag, names map[digest.Digest]string) string {
	var out []string
	for _, tg := range tags {
		s := tg.Name + ">" + names[tg.ManifestDigest]
		if tg.End.IsZero() {
			s += "+current"
		}
		if tg.Reversion {
			s += "+reverted"
		}
		if tg.Immutable {
			s += "+immutable"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// tick makes the next write start in a later millisecond, so history rows
// order by time.
func tick() { time.Sleep(3 * time.Millisecond) }

func testTagHistoryRestore(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d1 := image{repo: "org/app", seed: "one", tags: []string{"latest"}}.push(t, db)
	tick()
	d2 := image{repo: "org/app", seed: "two", tags: []string{"latest"}}.push(t, db)
	names := map[digest.Digest]string{d1: "d1", d2: "d2"}
	if got, want := rows(history(t, db, "org/app", store.TagHistoryQuery{}), names), "latest>d2+current latest>d1"; got != want {
		t.Fatalf("history after move = %q, want %q", got, want)
	}
	if got, want := rows(history(t, db, "org/app", store.TagHistoryQuery{ActiveOnly: true}), names), "latest>d2+current"; got != want {
		t.Fatalf("active = %q, want %q", got, want)
	}

	// Restore after a move.
	tick()
	noErr(t, db.RestoreTag(ctx, "org/app", "latest", d1, week2), "RestoreTag after move")
	if m := mustManifest(t, db, "org/app", byTag("latest")); m.Digest != d1 {
		t.Fatalf("latest -> %s after restore, want d1", m.Digest)
	}
	all := history(t, db, "org/app", store.TagHistoryQuery{})
	if got, want := rows(all, names), "latest>d1+current+reverted latest>d2 latest>d1"; got != want {
		t.Fatalf("history after restore = %q, want %q", got, want)
	}
	if all[1].End.IsZero() || all[1].End.Before(all[1].Start) || all[0].LayersSize != 1 || all[0].ManifestMediaType != oci.MediaTypeOCIManifest {
		t.Fatalf("row fields: %+v", all)
	}

	// Restore after a delete.
	tick()
	noErr(t, db.DeleteTag(ctx, "org/app", "latest"), "DeleteTag")
	_, err := db.Manifest(ctx, "org/app", byTag("latest"))
	wantCode(t, err, core.CodeManifestUnknown)
	wantCode(t, db.DeleteTag(ctx, "org/app", "latest"), core.CodeManifestUnknown)
	tick()
	noErr(t, db.RestoreTag(ctx, "org/app", "latest", d2, week2), "RestoreTag after delete")
	if m := mustManifest(t, db, "org/app", byTag("latest")); m.Digest != d2 {
		t.Fatalf("latest -> %s after restore, want d2", m.Digest)
	}
	// A restore may also bring back a name that never pointed there, and
	// restoring to the current target changes nothing.
	noErr(t, db.RestoreTag(ctx, "org/app", "old", d1, week2), "RestoreTag another name")
	n := len(history(t, db, "org/app", store.TagHistoryQuery{}))
	noErr(t, db.RestoreTag(ctx, "org/app", "old", d1, week2), "RestoreTag to the current target")
	if got := len(history(t, db, "org/app", store.TagHistoryQuery{})); got != n {
		t.Fatalf("restoring to the current target added rows: %d -> %d", n, got)
	}

	wantCode(t, db.RestoreTag(ctx, "org/app", "latest", digest.FromString("never pushed"), week2), core.CodeManifestUnknown)
	wantCode(t, db.RestoreTag(ctx, "org/none", "latest", d1, week2), core.CodeNameUnknown)
	_, _, err = db.TagHistory(ctx, "org/none", store.TagHistoryQuery{})
	wantCode(t, err, core.CodeNameUnknown)
}

func testTagHistoryFilters(t *testing.T, db *store.DB) {
	for i, name := range []string{"v1.0", "V1_X", "v10", "release", "v1.0"} {
		image{repo: "org/app", seed: fmt.Sprint("s", i), tags: []string{name}}.push(t, db)
		tick()
	}
	names := func(q store.TagHistoryQuery) string {
		var out []string
		for _, tg := range history(t, db, "org/app", q) {
			out = append(out, tg.Name)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		q    store.TagHistoryQuery
		want string
	}{
		{store.TagHistoryQuery{}, "v1.0,release,v10,V1_X,v1.0"},
		{store.TagHistoryQuery{ActiveOnly: true}, "v1.0,release,v10,V1_X"},
		{store.TagHistoryQuery{Name: "v1.0"}, "v1.0,v1.0"},
		{store.TagHistoryQuery{NameEq: "v1.0", ActiveOnly: true}, "v1.0"},
		{store.TagHistoryQuery{NameLike: "v1"}, "v1.0,v10,V1_X,v1.0"},
		{store.TagHistoryQuery{NameLike: "1_"}, "V1_X"}, // _ is not a wildcard
		{store.TagHistoryQuery{NameLike: "%"}, ""},
	} {
		if got := names(c.q); got != c.want {
			t.Errorf("%+v: %q, want %q", c.q, got, c.want)
		}
	}
	// Pages of two.
	var seen []string
	for page := 1; ; page++ {
		tags, more, err := db.TagHistory(t.Context(), "org/app", store.TagHistoryQuery{Page: page, Limit: 2, Window: week2})
		noErr(t, err, "TagHistory page")
		for _, tg := range tags {
			seen = append(seen, tg.Name)
		}
		if !more {
			break
		}
		if page > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if got := strings.Join(seen, ","); got != "v1.0,release,v10,V1_X,v1.0" {
		t.Fatalf("paged = %q", got)
	}
}

func testRestoreDeletedManifest(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d1 := image{repo: "org/app", seed: "one", tags: []string{"latest", "stable"}}.push(t, db)
	noErr(t, db.DeleteManifest(ctx, "org/app", d1), "DeleteManifest")
	_, err := db.Manifest(ctx, "org/app", byDigest(d1))
	wantCode(t, err, core.CodeManifestUnknown)
	wantTags(t, db, "org/app")
	// A move to a deleted manifest is refused; a restore revives it.
	wantCode(t, db.ChangeTag(ctx, "org/app", "latest", store.TagChange{Manifest: d1}), core.CodeManifestUnknown)
	noErr(t, db.RestoreTag(ctx, "org/app", "latest", d1, week2), "RestoreTag deleted manifest")
	mustManifest(t, db, "org/app", byDigest(d1))
	if m := mustManifest(t, db, "org/app", byTag("latest")); m.Digest != d1 {
		t.Fatalf("latest -> %s", m.Digest)
	}
	wantTags(t, db, "org/app", "latest")
}

func testRestoreOutsideWindow(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d1 := image{repo: "org/app", seed: "one", tags: []string{"latest"}}.push(t, db)
	image{repo: "org/app", seed: "two", tags: []string{"latest"}}.push(t, db)
	time.Sleep(20 * time.Millisecond)
	// With a window shorter than the time since the move, the old row is
	// neither listed nor restorable.
	err := db.RestoreTag(ctx, "org/app", "latest", d1, 5*time.Millisecond)
	wantCode(t, err, core.CodeManifestUnknown)
	if !strings.Contains(err.Error(), "time-machine window") {
		t.Fatalf("error does not say why: %v", err)
	}
	if got := history(t, db, "org/app", store.TagHistoryQuery{Window: 5 * time.Millisecond}); len(got) != 1 {
		t.Fatalf("history within a short window has %d rows", len(got))
	}
	noErr(t, db.RestoreTag(ctx, "org/app", "latest", d1, week2), "RestoreTag within the window")
	// A manifest pushed by digest only was never in the history.
	bare := image{repo: "org/app", seed: "bare"}.push(t, db)
	wantCode(t, db.RestoreTag(ctx, "org/app", "latest", bare, week2), core.CodeManifestUnknown)
	noErr(t, db.ChangeTag(ctx, "org/app", "latest", store.TagChange{Manifest: bare}), "ChangeTag to a live manifest")
}

func testPurgeTag(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d1 := image{repo: "org/app", seed: "one", tags: []string{"a"}}.push(t, db)
	tick()
	d2 := image{repo: "org/app", seed: "two", tags: []string{"a"}}.push(t, db)
	n, err := db.PurgeTag(ctx, "org/app", "a", d1, false, week2)
	noErr(t, err, "PurgeTag history")
	if n != 1 {
		t.Fatalf("purged %d rows", n)
	}
	names := map[digest.Digest]string{d1: "d1", d2: "d2"}
	if got := rows(history(t, db, "org/app", store.TagHistoryQuery{}), names); got != "a>d2+current" {
		t.Fatalf("history after purge = %q", got)
	}
	wantCode(t, db.RestoreTag(ctx, "org/app", "a", d1, week2), core.CodeManifestUnknown)
	_, err = db.PurgeTag(ctx, "org/app", "a", d1, false, week2)
	wantCode(t, err, core.CodeManifestUnknown)

	// The alive row: ends at once, out of the window.
	n, err = db.PurgeTag(ctx, "org/app", "a", "", true, week2)
	noErr(t, err, "PurgeTag alive")
	if n != 1 {
		t.Fatalf("purged %d rows", n)
	}
	_, err = db.Manifest(ctx, "org/app", byTag("a"))
	wantCode(t, err, core.CodeManifestUnknown)
	if got := history(t, db, "org/app", store.TagHistoryQuery{}); len(got) != 0 {
		t.Fatalf("history after purging everything: %+v", got)
	}
	_, err = db.PurgeTag(ctx, "org/app", "a", "", true, week2)
	wantCode(t, err, core.CodeManifestUnknown)
}

func testTagExpiryLabel(t *testing.T, db *store.DB) {
	ctx := t.Context()
	put := image{repo: "org/app", seed: "tmp", tags: []string{"tmp"}}.build(t, db)
	put.Labels = map[string]string{core.LabelExpiresAfter: "2w", "other": "ignored"}
	before := time.Now()
	noErr(t, db.PutManifest(ctx, put), "PutManifest with expiry label")
	tags := history(t, db, "org/app", store.TagHistoryQuery{ActiveOnly: true})
	if len(tags) != 1 || tags[0].Expires.Before(before.Add(week2-time.Second)) || tags[0].Expires.After(time.Now().Add(week2+time.Second)) {
		t.Fatalf("label expiry not applied: %+v", tags)
	}
	// An unreadable value is ignored, as Quay does.
	bad := image{repo: "org/app", seed: "bad", tags: []string{"bad"}}.build(t, db)
	bad.Labels = map[string]string{core.LabelExpiresAfter: "2x"}
	noErr(t, db.PutManifest(ctx, bad), "PutManifest with a bad label")
	// A label on a manifest that has expired makes the tag 404 with
	// TAG_EXPIRED before any sweep.
	short := image{repo: "org/app", seed: "short", tags: []string{"short"}}.build(t, db)
	short.Labels = map[string]string{core.LabelExpiresAfter: "1s"}
	noErr(t, db.PutManifest(ctx, short), "PutManifest 1s")
	mustManifest(t, db, "org/app", byTag("short"))
	time.Sleep(1100 * time.Millisecond)
	_, err := db.Manifest(ctx, "org/app", byTag("short"))
	wantCode(t, err, core.CodeTagExpired)
	mustManifest(t, db, "org/app", byDigest(short.Digest))
	for _, tg := range history(t, db, "org/app", store.TagHistoryQuery{}) {
		if tg.Name == "bad" && !tg.Expires.IsZero() {
			t.Fatalf("bad label set an expiry: %+v", tg)
		}
	}
	wantTags(t, db, "org/app", "bad", "tmp")
	// Re-pushing restarts the expiry of the existing tag.
	noErr(t, db.PutManifest(ctx, short), "re-push 1s")
	mustManifest(t, db, "org/app", byTag("short"))
}

func testTagExpiryIndexLabels(t *testing.T, db *store.DB) {
	ctx := t.Context()
	child := func(seed, value string) digest.Digest {
		put := image{repo: "org/app", seed: seed}.build(t, db)
		if value != "" {
			put.Labels = map[string]string{core.LabelExpiresAfter: value}
		}
		noErr(t, db.PutManifest(ctx, put), "PutManifest child "+seed)
		return put.Digest
	}
	index := func(tag string, children ...digest.Digest) {
		var entries []string
		for _, c := range children {
			entries = append(entries, fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":1}`, oci.MediaTypeOCIManifest, c))
		}
		content := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[%s]}`, oci.MediaTypeOCIIndex, strings.Join(entries, ",")))
		noErr(t, db.PutManifest(ctx, store.PutManifest{Repository: "org/app", Digest: digest.FromBytes(content),
			MediaType: oci.MediaTypeOCIIndex, Content: content, Children: children, Tags: []string{tag}}), "PutManifest index")
	}
	a, b, c := child("amd64", "1d"), child("arm64", "1d"), child("other", "2d")
	index("shared", a, b, digest.FromString("absent"))
	index("differs", a, c)
	expires := map[string]time.Time{}
	for _, tg := range history(t, db, "org/app", store.TagHistoryQuery{ActiveOnly: true}) {
		expires[tg.Name] = tg.Expires
	}
	if d := time.Until(expires["shared"]); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("index whose children share the label: expires in %s", d)
	}
	if !expires["differs"].IsZero() {
		t.Fatalf("index whose children differ expires at %s", expires["differs"])
	}
}

func testTagExpirySweep(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d := image{repo: "org/app", seed: "one", tags: []string{"a", "b", "keep"}}.push(t, db)
	past := time.Now().Add(-time.Second)
	future := time.Now().Add(time.Hour)
	noErr(t, db.ChangeTag(ctx, "org/app", "a", store.TagChange{Expiration: &past}), "expire a")
	noErr(t, db.ChangeTag(ctx, "org/app", "b", store.TagChange{Expiration: &future}), "expire b later")
	_, err := db.Manifest(ctx, "org/app", byTag("a"))
	wantCode(t, err, core.CodeTagExpired)
	wantTags(t, db, "org/app", "b", "keep")
	wantCode(t, db.DeleteTag(ctx, "org/app", "a"), core.CodeManifestUnknown)
	wantCode(t, db.ChangeTag(ctx, "org/app", "a", store.TagChange{Expiration: &future}), core.CodeManifestUnknown)

	n, err := db.ExpireTags(ctx, time.Now(), 100)
	noErr(t, err, "ExpireTags")
	if n != 1 {
		t.Fatalf("swept %d tags, want 1", n)
	}
	if n, _ := db.ExpireTags(ctx, time.Now(), 100); n != 0 {
		t.Fatalf("second sweep ended %d", n)
	}
	var ended core.Tag
	for _, tg := range history(t, db, "org/app", store.TagHistoryQuery{Name: "a"}) {
		ended = tg
	}
	if ended.End.UnixMilli() != past.UnixMilli() {
		t.Fatalf("expired row ends at %s, want its expiry %s", ended.End, past)
	}
	_, err = db.Manifest(ctx, "org/app", byTag("a"))
	wantCode(t, err, core.CodeTagExpired)

	// Clearing an expiry keeps the tag; a sweep in the future ends the rest.
	noErr(t, db.ChangeTag(ctx, "org/app", "b", store.TagChange{Expiration: &time.Time{}}), "clear b")
	noErr(t, db.ChangeTag(ctx, "org/app", "keep", store.TagChange{Expiration: &future}), "expire keep")
	if n, _ := db.ExpireTags(ctx, future.Add(time.Minute), 100); n != 1 {
		t.Fatalf("future sweep ended %d, want 1", n)
	}
	wantTags(t, db, "org/app", "b")
	// A push over an expired tag starts a fresh one.
	image{repo: "org/app", seed: "one", tags: []string{"a"}}.push(t, db)
	if m := mustManifest(t, db, "org/app", byTag("a")); m.Digest != d {
		t.Fatalf("a -> %s", m.Digest)
	}
}

func testImmutableFlag(t *testing.T, db *store.DB) {
	ctx := t.Context()
	put := image{repo: "org/app", seed: "one", tags: []string{"v1"}}.build(t, db)
	put.Labels = map[string]string{core.LabelImmutable: "True", core.LabelExpiresAfter: "1d"}
	noErr(t, db.PutManifest(ctx, put), "PutManifest immutable")
	d1 := put.Digest
	tags := history(t, db, "org/app", store.TagHistoryQuery{})
	if len(tags) != 1 || !tags[0].Immutable || !tags[0].Expires.IsZero() {
		t.Fatalf("immutable label: %+v", tags)
	}
	other := image{repo: "org/app", seed: "two", tags: []string{"v1"}}.build(t, db)
	err := db.PutManifest(ctx, other)
	wantCode(t, err, core.CodeTagImmutable)
	if !strings.Contains(err.Error(), `"v1"`) || !strings.Contains(err.Error(), "marked immutable") {
		t.Fatalf("error does not name the tag and rule: %v", err)
	}
	// The refused push stored nothing.
	_, err = db.Manifest(ctx, "org/app", byDigest(other.Digest))
	wantCode(t, err, core.CodeManifestUnknown)
	noErr(t, db.PutManifest(ctx, put), "re-push the same manifest")

	later := time.Now().Add(time.Hour)
	d3 := image{repo: "org/app", seed: "three"}.push(t, db)
	d4 := image{repo: "org/app", seed: "four", tags: []string{"x"}}.push(t, db)
	for what, err := range map[string]error{
		"delete tag":      db.DeleteTag(ctx, "org/app", "v1"),
		"delete manifest": db.DeleteManifest(ctx, "org/app", d1),
		"move":            db.ChangeTag(ctx, "org/app", "v1", store.TagChange{Manifest: d3}),
		"restore":         db.RestoreTag(ctx, "org/app", "v1", d4, week2),
		"set expiry":      db.ChangeTag(ctx, "org/app", "v1", store.TagChange{Expiration: &later}),
		"purge":           func() error { _, err := db.PurgeTag(ctx, "org/app", "v1", "", true, week2); return err }(),
	} {
		if !core.IsCode(err, core.CodeTagImmutable) {
			t.Errorf("%s: %v, want tag immutable", what, err)
		}
	}
	mustManifest(t, db, "org/app", byDigest(d1))

	// Clearing the flag needs the right; then the tag moves freely.
	no := false
	wantCode(t, db.ChangeTag(ctx, "org/app", "v1", store.TagChange{Immutable: &no}), core.CodeDenied)
	noErr(t, db.ChangeTag(ctx, "org/app", "v1", store.TagChange{Immutable: &no, MayClearImmutable: true, Manifest: d3}),
		"clear the flag and move")
	// The manifest refused before now goes through.
	noErr(t, db.PutManifest(ctx, other), "push over the freed tag")
	if m := mustManifest(t, db, "org/app", byTag("v1")); m.Digest != other.Digest {
		t.Fatalf("v1 -> %s", m.Digest)
	}
	// Setting the flag through the API; a tag with an expiry must lose it first.
	yes := true
	future := time.Now().Add(time.Hour)
	noErr(t, db.ChangeTag(ctx, "org/app", "x", store.TagChange{Expiration: &future}), "expire x")
	wantCode(t, db.ChangeTag(ctx, "org/app", "x", store.TagChange{Immutable: &yes}), core.CodeInvalid)
	noErr(t, db.ChangeTag(ctx, "org/app", "x", store.TagChange{Expiration: &time.Time{}, Immutable: &yes}), "clear expiry and protect")
	wantCode(t, db.DeleteTag(ctx, "org/app", "x"), core.CodeTagImmutable)
	wantCode(t, db.ChangeTag(ctx, "org/app", "missing", store.TagChange{Immutable: &yes}), core.CodeManifestUnknown)
}

func testImmutabilityPolicies(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, err := db.CreateOrganization(ctx, "acme", "", 0)
	noErr(t, err, "CreateOrganization")
	d1 := image{repo: "acme/app", seed: "one", tags: []string{"v1", "latest", "dev-1"}}.push(t, db)
	image{repo: "org/other", seed: "one", tags: []string{"v1"}}.push(t, db)
	future := time.Now().Add(time.Hour)
	noErr(t, db.ChangeTag(ctx, "acme/app", "v1", store.TagChange{Expiration: &future}), "expire v1")

	ns, err := db.CreateImmutabilityPolicy(ctx, core.ImmutabilityPolicy{Namespace: "acme", TagPattern: " v[0-9]+ ", TagPatternMatches: true})
	noErr(t, err, "create namespace policy")
	if ns.UUID == "" || ns.TagPattern != "v[0-9]+" {
		t.Fatalf("policy %+v", ns)
	}
	// The policy took the expiry away from v1 and protects it, not latest,
	// nor a v1 of another namespace, nor names that only contain a match.
	tags := history(t, db, "acme/app", store.TagHistoryQuery{Name: "v1"})
	if len(tags) != 1 || !tags[0].Immutable || !tags[0].Expires.IsZero() {
		t.Fatalf("v1 under the policy: %+v", tags)
	}
	d2 := image{repo: "acme/app", seed: "two"}.push(t, db)
	err = db.ChangeTag(ctx, "acme/app", "v1", store.TagChange{Manifest: d2})
	wantCode(t, err, core.CodeTagImmutable)
	if !strings.Contains(err.Error(), ns.UUID) || !strings.Contains(err.Error(), "v[0-9]+") {
		t.Fatalf("error does not name the policy: %v", err)
	}
	noErr(t, db.ChangeTag(ctx, "acme/app", "latest", store.TagChange{Manifest: d2}), "move latest")
	noErr(t, db.ChangeTag(ctx, "acme/app", "xv1x", store.TagChange{Manifest: d2}), "create xv1x")
	noErr(t, db.ChangeTag(ctx, "acme/app", "xv1x", store.TagChange{Manifest: d1}), "move xv1x")
	noErr(t, db.ChangeTag(ctx, "org/other", "v1", store.TagChange{Manifest: image{repo: "org/other", seed: "two"}.push(t, db)}), "other namespace")
	// Nobody can make a tag mutable while a policy holds it.
	no := false
	wantCode(t, db.ChangeTag(ctx, "acme/app", "v1", store.TagChange{Immutable: &no, MayClearImmutable: true}), core.CodeTagImmutable)

	// A repository policy with tagPatternMatches false protects every tag
	// that does not match: here all but dev-*.
	rp, err := db.CreateImmutabilityPolicy(ctx, core.ImmutabilityPolicy{Namespace: "acme", Repository: "acme/app", TagPattern: "dev-.*"})
	noErr(t, err, "create repository policy")
	err = db.ChangeTag(ctx, "acme/app", "latest", store.TagChange{Manifest: d1})
	wantCode(t, err, core.CodeTagImmutable)
	if !strings.Contains(err.Error(), rp.UUID) || !strings.Contains(err.Error(), "not matching") {
		t.Fatalf("error does not name the repository policy: %v", err)
	}
	noErr(t, db.ChangeTag(ctx, "acme/app", "dev-1", store.TagChange{Manifest: d2}), "move dev-1")
	wantCode(t, db.DeleteManifest(ctx, "acme/app", d2), core.CodeTagImmutable)
	// Deleting the policies frees the tags.
	noErr(t, db.DeleteImmutabilityPolicy(ctx, "acme", "acme/app", rp.UUID), "delete repository policy")
	noErr(t, db.DeleteImmutabilityPolicy(ctx, "acme", "", ns.UUID), "delete namespace policy")
	noErr(t, db.ChangeTag(ctx, "acme/app", "v1", store.TagChange{Manifest: d2}), "move v1 after the policy went")
	noErr(t, db.DeleteTag(ctx, "acme/app", "latest"), "delete latest")
}

func testImmutabilityPolicyCRUD(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, err := db.CreateOrganization(ctx, "acme", "", 0)
	noErr(t, err, "CreateOrganization")
	image{repo: "acme/app", seed: "one"}.push(t, db)
	image{repo: "org/app", seed: "one"}.push(t, db)
	a, err := db.CreateImmutabilityPolicy(ctx, core.ImmutabilityPolicy{Namespace: "acme", TagPattern: "^v.*", TagPatternMatches: true})
	noErr(t, err, "create")
	for _, bad := range []core.ImmutabilityPolicy{
		{Namespace: "acme", TagPattern: "^v.*", TagPatternMatches: false}, // duplicate pattern
		{Namespace: "acme", TagPattern: "("},
		{Namespace: "acme", TagPattern: "  "},
		{Namespace: "acme", TagPattern: strings.Repeat("a", 257)},
	} {
		_, err := db.CreateImmutabilityPolicy(ctx, bad)
		wantCode(t, err, core.CodeInvalid)
	}
	_, err = db.CreateImmutabilityPolicy(ctx, core.ImmutabilityPolicy{Namespace: "nobody", TagPattern: "x"})
	wantCode(t, err, core.CodeNotFound)
	_, err = db.CreateImmutabilityPolicy(ctx, core.ImmutabilityPolicy{Namespace: "acme", Repository: "org/app", TagPattern: "x"})
	wantCode(t, err, core.CodeNameUnknown)
	// The same pattern is fine in another scope.
	r, err := db.CreateImmutabilityPolicy(ctx, core.ImmutabilityPolicy{Namespace: "acme", Repository: "acme/app", TagPattern: "^v.*"})
	noErr(t, err, "create repository policy")

	list, err := db.ImmutabilityPolicies(ctx, "acme", "")
	noErr(t, err, "list")
	if len(list) != 1 || list[0] != a {
		t.Fatalf("namespace policies %+v, want %+v", list, a)
	}
	list, err = db.ImmutabilityPolicies(ctx, "acme", "acme/app")
	noErr(t, err, "list repository")
	if len(list) != 1 || list[0].UUID != r.UUID || list[0].Repository != "acme/app" || list[0].TagPatternMatches {
		t.Fatalf("repository policies %+v", list)
	}
	_, err = db.ImmutabilityPolicy(ctx, "acme", "", r.UUID) // a repository policy is not the namespace's
	wantCode(t, err, core.CodeNotFound)

	a.TagPattern, a.TagPatternMatches = "release-.*", false
	noErr(t, db.UpdateImmutabilityPolicy(ctx, a), "update")
	got, err := db.ImmutabilityPolicy(ctx, "acme", "", a.UUID)
	noErr(t, err, "get")
	if got != a {
		t.Fatalf("after update %+v, want %+v", got, a)
	}
	wantCode(t, db.UpdateImmutabilityPolicy(ctx, core.ImmutabilityPolicy{Namespace: "acme", UUID: "nope", TagPattern: "x"}), core.CodeNotFound)
	wantCode(t, db.UpdateImmutabilityPolicy(ctx, core.ImmutabilityPolicy{Namespace: "acme", UUID: a.UUID, TagPattern: "["}), core.CodeInvalid)
	wantCode(t, db.DeleteImmutabilityPolicy(ctx, "acme", "", "nope"), core.CodeNotFound)
	noErr(t, db.DeleteImmutabilityPolicy(ctx, "acme", "", a.UUID), "delete")
	list, _ = db.ImmutabilityPolicies(ctx, "acme", "")
	if len(list) != 0 {
		t.Fatalf("after delete: %+v", list)
	}
	// Deleting the organization removes its policies with it.
	noErr(t, db.DeleteOrganization(ctx, "acme"), "DeleteOrganization")
	_, err = db.ImmutabilityPolicies(ctx, "acme", "")
	wantCode(t, err, core.CodeNotFound)
}

func testRegistryState(t *testing.T, db *store.DB) {
	ctx := t.Context()
	st, err := db.RegistryState(ctx)
	noErr(t, err, "RegistryState")
	if st != core.RegistryStateNormal {
		t.Fatalf("default state %q", st)
	}
	noErr(t, db.SetRegistryState(ctx, core.RegistryStateReadOnly), "set readonly")
	if st, _ := db.RegistryState(ctx); st != core.RegistryStateReadOnly {
		t.Fatalf("state %q", st)
	}
	noErr(t, db.SetRegistryState(ctx, core.RegistryStateNormal), "set normal")
	if st, _ := db.RegistryState(ctx); st != core.RegistryStateNormal {
		t.Fatalf("state %q", st)
	}
	wantCode(t, db.SetRegistryState(ctx, "maintenance"), core.CodeInvalid)

	_, err = db.CreateOrganization(ctx, "acme", "", 0)
	noErr(t, err, "CreateOrganization")
	n, err := db.Namespace(ctx, "acme")
	noErr(t, err, "Namespace")
	if n.TagExpirationS != -1 {
		t.Fatalf("default window %d, want -1 (configured default)", n.TagExpirationS)
	}
	noErr(t, db.SetNamespaceTagExpiration(ctx, "acme", 86400), "SetNamespaceTagExpiration")
	if n, _ := db.Namespace(ctx, "acme"); n.TagExpirationS != 86400 {
		t.Fatalf("window %d", n.TagExpirationS)
	}
	wantCode(t, db.SetNamespaceTagExpiration(ctx, "nobody", 0), core.CodeNotFound)
	wantCode(t, db.SetNamespaceTagExpiration(ctx, "acme", -5), core.CodeInvalid)
}
