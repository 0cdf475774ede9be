package geo_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/blob/blobtest"
	"github.com/wharfhq/wharf/internal/blob/fs"
	"github.com/wharfhq/wharf/internal/blob/geo"
	"github.com/wharfhq/wharf/internal/core"
)

func newFS(t *testing.T) *fs.Store {
	t.Helper()
	s, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newGeo(t *testing.T, locs ...geo.Location) *geo.Store {
	t.Helper()
	g, err := geo.New(locs, geo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// The decorator over two directories passes the conformance suite.
func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		return newGeo(t, geo.Location{Name: "east", Store: newFS(t)}, geo.Location{Name: "west", Store: newFS(t)})
	})
}

func put(t *testing.T, s blob.Store, data []byte) digest.Digest {
	t.Helper()
	ctx := context.Background()
	d := digest.FromBytes(data)
	id := "test-" + d.Encoded()[:20]
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, id, 0, bytes.NewReader(data), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, id, d); err != nil {
		t.Fatal(err)
	}
	return d
}

func read(t *testing.T, s blob.Store, d digest.Digest) []byte {
	t.Helper()
	r, info, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatalf("Open %s: %v", d, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != info.Size || digest.FromBytes(b) != d {
		t.Fatalf("Open %s: read %d bytes of %d, digest %s", d, len(b), info.Size, digest.FromBytes(b))
	}
	return b
}

func has(t *testing.T, s blob.Store, d digest.Digest) bool {
	t.Helper()
	_, err := s.Stat(context.Background(), d)
	if err != nil && !core.IsCode(err, core.CodeBlobUnknown) {
		t.Fatal(err)
	}
	return err == nil
}

// Writes go to the local location, reads fall back to the others,
// Replicate copies (twice is harmless) and Delete removes every copy.
func TestLocalWritesFallbackReplicateDelete(t *testing.T) {
	ctx := context.Background()
	east, west := newFS(t), newFS(t)
	a := newGeo(t, geo.Location{Name: "east", Store: east}, geo.Location{Name: "west", Store: west})
	b := newGeo(t, geo.Location{Name: "west", Store: west}, geo.Location{Name: "east", Store: east})
	if a.Local() != "east" || b.Local() != "west" || len(b.Names()) != 2 {
		t.Fatalf("locations: %s %s %v", a.Local(), b.Local(), b.Names())
	}

	data := []byte("a layer pushed in the east")
	d := put(t, a, data)
	if !has(t, east, d) || has(t, west, d) {
		t.Fatal("a commit must write to the local location only")
	}
	// Not replicated yet: the west replica streams it from the east.
	if got := read(t, b, d); !bytes.Equal(got, data) {
		t.Fatal("fallback read returned other bytes")
	}
	if info, err := b.Stat(ctx, d); err != nil || info.Size != int64(len(data)) {
		t.Fatalf("fallback Stat: %v %v", info, err)
	}
	if ok, err := b.Has(ctx, "west", d); err != nil || ok {
		t.Fatalf("Has(west) before replication: %v %v", ok, err)
	}

	for range 2 {
		if err := b.Replicate(ctx, d, "west"); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := a.Has(ctx, "west", d); err != nil || !ok {
		t.Fatalf("Has(west) after replication: %v %v", ok, err)
	}
	if got := read(t, west, d); !bytes.Equal(got, data) {
		t.Fatal("replicated bytes differ")
	}
	// Replicating something nobody has is "blob unknown".
	missing := digest.FromString("nobody has this")
	if err := a.Replicate(ctx, missing, "west"); !core.IsCode(err, core.CodeBlobUnknown) {
		t.Fatalf("Replicate of a missing blob: %v", err)
	}
	if err := a.Replicate(ctx, d, "north"); !core.IsCode(err, core.CodeInvalid) {
		t.Fatalf("Replicate to an unknown location: %v", err)
	}

	// Delete through either replica removes every copy.
	if err := b.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if has(t, east, d) || has(t, west, d) || has(t, a, d) {
		t.Fatal("Delete left a copy behind")
	}
	if _, _, err := a.Open(ctx, d); !core.IsCode(err, core.CodeBlobUnknown) {
		t.Fatalf("Open after Delete: %v", err)
	}

	// DeleteAt removes one copy only.
	d2 := put(t, a, []byte("second"))
	if err := a.Replicate(ctx, d2, "west"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteAt(ctx, "east", d2); err != nil {
		t.Fatal(err)
	}
	if has(t, east, d2) || !has(t, west, d2) {
		t.Fatal("DeleteAt removed the wrong copy")
	}
	read(t, a, d2)
}

// broken is a location that cannot be reached: every call fails.
type broken struct {
	blob.Store
	calls atomic.Int64
}

var errDown = errors.New("connection refused")

func (b *broken) Stat(context.Context, digest.Digest) (blob.Info, error) {
	b.calls.Add(1)
	return blob.Info{}, errDown
}

func (b *broken) Open(context.Context, digest.Digest) (io.ReadSeekCloser, blob.Info, error) {
	b.calls.Add(1)
	return nil, blob.Info{}, errDown
}

func (b *broken) Delete(context.Context, digest.Digest) error {
	b.calls.Add(1)
	return errDown
}

// A dead local location does not stop reads of blobs held elsewhere; it is
// tried after the others while it is down; a blob only it might hold is
// "unavailable", not "unknown"; Delete still removes the reachable copies
// and reports the failure.
func TestDeadLocation(t *testing.T) {
	ctx := context.Background()
	west := newFS(t)
	dead := &broken{Store: newFS(t)}
	g := newGeo(t, geo.Location{Name: "east", Store: dead}, geo.Location{Name: "west", Store: west})
	data := []byte("held in the west")
	d := put(t, west, data)

	if got := read(t, g, d); !bytes.Equal(got, data) {
		t.Fatal("read with a dead local location")
	}
	before := dead.calls.Load()
	read(t, g, d)
	if dead.calls.Load() != before {
		t.Fatal("a location in its cool-down was tried before the others")
	}
	if _, err := g.Stat(ctx, digest.FromString("only the east might have it")); !core.IsCode(err, core.CodeUnavailable) {
		t.Fatalf("Stat of a blob missing from the reachable locations: %v", err)
	}
	if err := g.Replicate(ctx, d, "west"); err != nil {
		t.Fatalf("Replicate to a location that already has it: %v", err)
	}
	if err := g.Delete(ctx, d); !errors.Is(err, errDown) {
		t.Fatalf("Delete with a dead location: %v", err)
	}
	if has(t, west, d) {
		t.Fatal("Delete skipped the reachable location")
	}
}

func TestNewRejectsBadLocations(t *testing.T) {
	s := newFS(t)
	for _, locs := range [][]geo.Location{
		nil,
		{{Name: "", Store: s}},
		{{Name: "a", Store: nil}},
		{{Name: "a", Store: s}, {Name: "a", Store: s}},
	} {
		if _, err := geo.New(locs, geo.Options{}); err == nil {
			t.Errorf("New(%v) accepted", locs)
		}
	}
}

// A session started by a replica preferring the west is continued and
// committed by one preferring the east: the blob ends up in both, and
// cancelling a remote session removes it where it lives.
func TestSessionFromAnotherLocation(t *testing.T) {
	ctx := context.Background()
	east, west := newFS(t), newFS(t)
	a := newGeo(t, geo.Location{Name: "east", Store: east}, geo.Location{Name: "west", Store: west})
	b := newGeo(t, geo.Location{Name: "west", Store: west}, geo.Location{Name: "east", Store: east})
	data := []byte("first half, second half")
	d := digest.FromBytes(data)
	const id = "session-started-in-the-west"
	if err := b.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, id, 0, bytes.NewReader(data[:10]), 0); err != nil {
		t.Fatal(err)
	}
	if n, err := a.UploadSize(ctx, id); err != nil || n != 10 {
		t.Fatalf("UploadSize through the east: %d %v", n, err)
	}
	if n, err := a.Append(ctx, id, 10, bytes.NewReader(data[10:]), 0); err != nil || n != int64(len(data)) {
		t.Fatalf("Append through the east: %d %v", n, err)
	}
	if _, err := a.Commit(ctx, id, d); err != nil {
		t.Fatal(err)
	}
	if !has(t, east, d) || !has(t, west, d) {
		t.Fatal("a blob committed from another location's session must be stored locally too")
	}
	if _, err := a.UploadSize(ctx, id); !core.IsCode(err, core.CodeBlobUploadUnknown) {
		t.Fatalf("session after commit: %v", err)
	}

	const other = "another-west-session"
	if err := b.StartUpload(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := a.CancelUpload(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := west.UploadSize(ctx, other); !core.IsCode(err, core.CodeBlobUploadUnknown) {
		t.Fatalf("remote session after cancel: %v", err)
	}
	if _, err := a.Append(ctx, "no-such-session-anywhere", 0, bytes.NewReader(data), 0); !core.IsCode(err, core.CodeBlobUploadUnknown) {
		t.Fatalf("Append to a missing session: %v", err)
	}
}

// redirecting is a location whose driver offers direct downloads.
type redirecting struct {
	*fs.Store
	base string
}

func (r redirecting) RedirectURL(_ context.Context, d digest.Digest) (string, error) {
	return r.base + d.Encoded(), nil
}

// A redirect is offered only by the location that has the blob.
func TestRedirectFromTheHoldingLocation(t *testing.T) {
	ctx := context.Background()
	east, west := newFS(t), newFS(t)
	g := newGeo(t, geo.Location{Name: "east", Store: east}, geo.Location{Name: "west", Store: redirecting{west, "https://west.example/"}})
	inEast, inWest := put(t, east, []byte("east only")), put(t, west, []byte("west only"))
	if u, err := g.RedirectURL(ctx, inEast); err != nil || u != "" {
		t.Fatalf("blob held by a location without redirects: %q %v", u, err)
	}
	if u, err := g.RedirectURL(ctx, inWest); err != nil || u != "https://west.example/"+inWest.Encoded() {
		t.Fatalf("blob held by the redirecting location: %q %v", u, err)
	}
	if u, err := g.RedirectURL(ctx, digest.FromString("nowhere")); err != nil || u != "" {
		t.Fatalf("missing blob: %q %v", u, err)
	}
	// Without any redirecting location no lookup happens at all.
	plain := newGeo(t, geo.Location{Name: "east", Store: east})
	if u, err := plain.RedirectURL(ctx, inEast); err != nil || u != "" {
		t.Fatalf("plain: %q %v", u, err)
	}
}

// RemoteRead hears of reads served elsewhere because the local location
// lacks the blob, not of local reads nor of reads around a dead location.
func TestRemoteReadCallback(t *testing.T) {
	east, west := newFS(t), newFS(t)
	var heard []string
	g, err := geo.New([]geo.Location{{Name: "east", Store: east}, {Name: "west", Store: west}}, geo.Options{
		RemoteRead: func(_ context.Context, d digest.Digest, from string) { heard = append(heard, from+" "+d.Encoded()[:8]) },
	})
	if err != nil {
		t.Fatal(err)
	}
	local, remote := put(t, east, []byte("local")), put(t, west, []byte("remote"))
	read(t, g, local)
	read(t, g, remote)
	if len(heard) != 1 || heard[0] != "west "+remote.Encoded()[:8] {
		t.Fatalf("heard %v", heard)
	}

	heard = nil
	dead, err := geo.New([]geo.Location{{Name: "east", Store: &broken{Store: east}}, {Name: "west", Store: west}}, geo.Options{
		RemoteRead: func(_ context.Context, d digest.Digest, from string) { heard = append(heard, from+" "+d.Encoded()[:8]) },
	})
	if err != nil {
		t.Fatal(err)
	}
	read(t, dead, remote)
	if len(heard) != 0 {
		t.Fatalf("a read around a dead location asked for a copy: %v", heard)
	}
}

// DeleteFailed takes care of a location that cannot delete: Delete then
// succeeds once the others are done; while the location is in its
// cool-down it is not even tried; an error DeleteFailed returns is
// reported.
func TestDeleteFailedHandler(t *testing.T) {
	ctx := context.Background()
	west := newFS(t)
	dead := &broken{Store: newFS(t)}
	var queued []string
	handled := true
	g, err := geo.New([]geo.Location{{Name: "east", Store: dead}, {Name: "west", Store: west}}, geo.Options{
		DeleteFailed: func(_ context.Context, d digest.Digest, loc string, err error) error {
			if !errors.Is(err, errDown) && !core.IsCode(err, core.CodeUnavailable) {
				t.Errorf("DeleteFailed got %v", err)
			}
			queued = append(queued, loc)
			if handled {
				return nil
			}
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := put(t, west, []byte("to be collected"))
	if err := g.Delete(ctx, d); err != nil {
		t.Fatalf("Delete with a handled failure: %v", err)
	}
	if has(t, west, d) || len(queued) != 1 || queued[0] != "east" {
		t.Fatalf("west still has it: %v; queued %v", has(t, west, d), queued)
	}
	calls := dead.calls.Load()
	handled = false
	if err := g.Delete(ctx, d); !core.IsCode(err, core.CodeUnavailable) {
		t.Fatalf("Delete with an unhandled failure: %v", err)
	}
	if dead.calls.Load() != calls || len(queued) != 2 {
		t.Fatalf("a location in its cool-down was asked to delete (queued %v)", queued)
	}
}
