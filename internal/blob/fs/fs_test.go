package fs_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/blob/blobtest"
	"github.com/wharfhq/wharf/internal/blob/fs"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := fs.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// A session survives a new Store on the same directory (a restart), including
// a lost or stale hash state.
func TestResumeAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s1, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := "resume-0123456789abcdef"
	if err := s1.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Append(ctx, id, 0, bytes.NewReader([]byte("hello ")), 0); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash that lost the hash state file.
	if err := os.Remove(filepath.Join(dir, "uploads", id, "hashstate")); err != nil {
		t.Fatal(err)
	}
	s2, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	size, err := s2.UploadSize(ctx, id)
	if err != nil || size != 6 {
		t.Fatalf("UploadSize after restart = %d, %v", size, err)
	}
	if _, err := s2.Append(ctx, id, 6, bytes.NewReader([]byte("world")), 0); err != nil {
		t.Fatal(err)
	}
	// A stale state (offset mismatch) must be ignored, not trusted.
	if err := os.WriteFile(filepath.Join(dir, "uploads", id, "hashstate"), []byte(`{"offset":11,"state":"AAAA"}`), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Commit(ctx, id, digest.FromString("hello world")); err != nil {
		t.Fatalf("Commit after restart: %v", err)
	}
}
