package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharfhq/wharf/internal/app"
	"github.com/wharfhq/wharf/internal/config"
)

// TestAdminGC pushes an image by digest only (garbage once the grace period
// has passed), then checks that `wharf admin gc --dry-run` reports it without
// removing it and that `wharf admin gc` removes it.
func TestAdminGC(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.ListenAddress = "127.0.0.1:0"
	cfg.GarbageCollection = false // no background collector in this process
	ctx := context.Background()
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateUser(ctx, "alice", "alice@example.com", "pw-admin-gc-0123", false); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	img, err := random.Image(1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(strings.TrimPrefix(srv.URL, "http://")+"/alice/app@"+d.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "pw-admin-gc-0123"})); err != nil {
		t.Fatal(err)
	}
	size, err := img.Size()
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	a.Close()

	env := map[string]string{"WHARF_GARBAGE_COLLECTION_GRACE": "0s"}
	gc := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"admin", "gc", "--data", dir}, args...), &stdout, &stderr, func(k string) string { return env[k] }); code != 0 {
			t.Fatalf("wharf admin gc %v: exit %d: %s", args, code, stderr.String())
		}
		return stdout.String()
	}
	want := "would remove 1 manifests (" + strconv.FormatInt(size, 10) + " bytes), 0 tag history rows, 2 blob links, 2 blobs ("
	for i := 0; i < 2; i++ {
		if out := gc("--dry-run"); !strings.HasPrefix(out, want) {
			t.Fatalf("dry run %d: %q, want prefix %q", i, out, want)
		}
	}
	if out := gc(); !strings.HasPrefix(out, "removed 1 manifests") {
		t.Fatalf("gc: %q", out)
	}
	if out := gc("--dry-run"); !strings.HasPrefix(out, "would remove 0 manifests (0 bytes), 0 tag history rows, 0 blob links, 0 blobs (0 bytes)") {
		t.Fatalf("dry run after gc: %q", out)
	}
}
