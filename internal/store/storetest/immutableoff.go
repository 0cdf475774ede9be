package storetest

import (
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// RunImmutabilitySwitch checks Options.DisableImmutableTags (Quay's
// FEATURE_IMMUTABLE_TAGS false). open returns a handle with opts on one and
// the same database each time it is called within a test.
func RunImmutabilitySwitch(t *testing.T, open func(t *testing.T, opts store.Options) *store.DB) {
	on := open(t, store.Options{})
	off := open(t, store.Options{DisableImmutableTags: true})
	ctx := t.Context()
	_, err := on.CreateOrganization(ctx, "acme", "", 0)
	noErr(t, err, "CreateOrganization")
	yes, no := true, false

	// Enforced: a flagged tag and a tag of a policy refuse to move.
	flagged := image{repo: "acme/app", seed: "one", tags: []string{"v1"}}.build(t, on)
	flagged.Labels = map[string]string{core.LabelImmutable: "true"}
	noErr(t, on.PutManifest(ctx, flagged), "push flagged v1")
	image{repo: "acme/app", seed: "kept", tags: []string{"rel-1", "keep"}}.push(t, on)
	noErr(t, on.ChangeTag(ctx, "acme/app", "keep", store.TagChange{Immutable: &yes}), "flag keep")
	_, err = on.CreateImmutabilityPolicy(ctx, core.ImmutabilityPolicy{Namespace: "acme", TagPattern: "rel-.*", TagPatternMatches: true})
	noErr(t, err, "create policy")
	two := image{repo: "acme/app", seed: "two"}.push(t, on)
	wantCode(t, on.ChangeTag(ctx, "acme/app", "v1", store.TagChange{Manifest: two}), core.CodeTagImmutable)
	wantCode(t, on.PutManifest(ctx, image{repo: "acme/app", seed: "three", tags: []string{"rel-1"}}.build(t, on)), core.CodeTagImmutable)

	// Off: neither the flag nor the policy holds; nothing shows immutable.
	for _, tg := range history(t, off, "acme/app", store.TagHistoryQuery{ActiveOnly: true}) {
		if tg.Immutable {
			t.Errorf("tag %s shows immutable with immutability off", tg.Name)
		}
	}
	noErr(t, off.PutManifest(ctx, image{repo: "acme/app", seed: "three", tags: []string{"v1"}}.build(t, off)), "push over flagged v1")
	noErr(t, off.ChangeTag(ctx, "acme/app", "rel-1", store.TagChange{Manifest: two}), "move rel-1")
	later := time.Now().Add(time.Hour)
	noErr(t, off.ChangeTag(ctx, "acme/app", "keep", store.TagChange{Expiration: &later}), "expiry on flagged keep")
	noErr(t, off.ChangeTag(ctx, "acme/app", "keep", store.TagChange{Expiration: &time.Time{}}), "clear keep's expiry")
	noErr(t, off.DeleteTag(ctx, "acme/app", "rel-1"), "delete rel-1")
	// The flag cannot be set (neither by the API nor by the label), nor
	// cleared: the request is ignored.
	noErr(t, off.ChangeTag(ctx, "acme/app", "v1", store.TagChange{Immutable: &yes}), "set v1's flag")
	noErr(t, off.ChangeTag(ctx, "acme/app", "keep", store.TagChange{Immutable: &no}), "clear keep's flag")
	labelled := image{repo: "acme/app", seed: "four", tags: []string{"lbl"}}.build(t, off)
	labelled.Labels = map[string]string{core.LabelImmutable: "true"}
	noErr(t, off.PutManifest(ctx, labelled), "push with the immutable label")

	// On again: the flag set before and the policy hold; what was asked
	// while off did not happen.
	wantCode(t, on.ChangeTag(ctx, "acme/app", "keep", store.TagChange{Manifest: two}), core.CodeTagImmutable)
	noErr(t, on.ChangeTag(ctx, "acme/app", "v1", store.TagChange{Manifest: two}), "move v1")
	noErr(t, on.ChangeTag(ctx, "acme/app", "lbl", store.TagChange{Manifest: two}), "move lbl")
	noErr(t, on.ChangeTag(ctx, "acme/app", "rel-2", store.TagChange{Manifest: two}), "create rel-2")
	wantCode(t, on.DeleteTag(ctx, "acme/app", "rel-2"), core.CodeTagImmutable)

	// Only the flag set while enforced is in the audit log
	// (change_tag_immutability, in the transaction of the change).
	changes := allEntries(t, on, store.AuditFilter{Kinds: []string{core.LogChangeTagImmutability}})
	if len(changes) != 1 || changes[0].Repository != "app" || changes[0].Metadata["tag"] != "keep" ||
		changes[0].Metadata["immutable"] != true || changes[0].Metadata["previous_immutable"] != false {
		t.Fatalf("change_tag_immutability entries %+v", changes)
	}
}
