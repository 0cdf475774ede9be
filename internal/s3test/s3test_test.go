package s3test_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharfhq/wharf/internal/s3test"
)

func TestStartStop(t *testing.T) {
	srv, err := s3test.Start(context.Background())
	if errors.Is(err, s3test.ErrNotInstalled) {
		if os.Getenv("WHARF_E2E_REQUIRE") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if srv.AccessKey == "" || srv.SecretKey == "" || srv.Endpoint == "" {
		t.Fatalf("incomplete server: %+v", srv)
	}
	// An unsigned request is refused, which shows a real S3 server answers.
	resp, err := http.Get(srv.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous list buckets: %s", resp.Status)
	}
	if err := srv.NewBucket("one"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(srv.Dir, "one")); err != nil || !st.IsDir() {
		t.Fatalf("bucket directory: %v", err)
	}
	for _, bad := range []string{"", "..", "a/b", "one"} {
		if err := srv.NewBucket(bad); err == nil {
			t.Errorf("NewBucket(%q) accepted", bad)
		}
	}
	srv.Stop()
	srv.Stop()
	if _, err := os.Stat(srv.Dir); !os.IsNotExist(err) {
		t.Fatalf("directory left after Stop: %v", err)
	}
	if _, err := http.Get(srv.URL() + "/"); err == nil {
		t.Fatal("server still answers after Stop")
	}
}
