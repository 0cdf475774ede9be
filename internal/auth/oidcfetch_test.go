package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// TestKeySetRefresh walks one key cache through its rules: fetch when
// empty, a forced refetch only after the gap, reuse within the TTL, refetch
// when stale, and a failed fetch that keeps the previous keys.
func TestKeySetRefresh(t *testing.T) {
	ctx := context.Background()
	pol := keyRefresh{ttl: time.Hour, timeout: time.Second}
	const gap = 5 * time.Second
	t0 := time.Unix(1_800_000_000, 0)
	var calls int
	var fail error
	fetch := func(ctx context.Context) ([]jose.JSONWebKey, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("fetch without a deadline")
		}
		calls++
		if fail != nil {
			return nil, fail
		}
		return []jose.JSONWebKey{{KeyID: string(rune('a' + calls - 1))}}, nil
	}
	var s keySet
	steps := []struct {
		name      string
		at        time.Duration
		force     bool
		fail      error
		wantCalls int
		wantKID   string
		wantErr   bool
	}{
		{"empty: fetch", 0, false, nil, 1, "a", false},
		{"forced within the gap: no fetch", time.Second, true, nil, 1, "a", false},
		{"fresh: reuse", time.Minute, false, nil, 1, "a", false},
		{"forced after the gap: fetch", 2 * time.Minute, true, nil, 2, "b", false},
		{"stale: fetch", 2*time.Minute + time.Hour, false, nil, 3, "c", false},
		{"stale and failing: keep the keys", 2*time.Minute + 2*time.Hour, false, errors.New("down"), 4, "c", true},
		{"failing again within the gap: no attempt", 2*time.Minute + 2*time.Hour + time.Second, false, errors.New("down"), 4, "c", false},
	}
	for _, st := range steps {
		fail = st.fail
		err := s.refresh(ctx, t0.Add(st.at), pol, st.force, gap, fetch)
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: err %v, want error %v", st.name, err, st.wantErr)
		}
		if calls != st.wantCalls {
			t.Fatalf("%s: %d fetches, want %d", st.name, calls, st.wantCalls)
		}
		if len(s.keys) != 1 || s.keys[0].KeyID != st.wantKID {
			t.Fatalf("%s: keys %v, want %q", st.name, s.keys, st.wantKID)
		}
	}
	if s.err == nil {
		t.Fatal("the last attempt's error is not kept")
	}

	// Without a gap a missing or stale set is fetched on every use.
	var nogap keySet
	calls, fail = 0, errors.New("down")
	for i := range 3 {
		if err := nogap.refresh(ctx, t0.Add(time.Duration(i)*time.Millisecond), pol, false, 0, fetch); err == nil {
			t.Fatal("a failed fetch reported no error")
		}
	}
	if calls != 3 || nogap.keys != nil {
		t.Fatalf("%d fetches, keys %v; want 3 and none", calls, nogap.keys)
	}
}
