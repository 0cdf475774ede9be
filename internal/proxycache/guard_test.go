package proxycache_test

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/proxycache"
)

func TestInternalAddr(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		internal bool
	}{
		{"127.0.0.1", true},
		{"127.8.9.10", true},
		{"::1", true},
		{"169.254.169.254", true}, // cloud metadata
		{"fe80::1", true},
		{"10.1.2.3", true},
		{"172.16.0.1", true},
		{"192.168.1.1", true},
		{"fd00::1", true},
		{"100.64.0.1", true},
		{"0.0.0.0", true},
		{"::", true},
		{"224.0.0.1", true},
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"8.8.8.8", false},
		{"100.128.0.1", false},
		{"172.32.0.1", false},
		{"2606:4700::1111", false},
		{"::ffff:1.1.1.1", false},
	} {
		if got := proxycache.InternalAddr(netip.MustParseAddr(tc.addr)); got != tc.internal {
			t.Errorf("InternalAddr(%s) = %v, want %v", tc.addr, got, tc.internal)
		}
	}
}

func TestUpstreamAllowlist(t *testing.T) {
	svc := proxycache.New(nil, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), proxycache.Options{
		UpstreamAllowlist: []string{"quay.io", "registry.local:5000", "*.example.com", " Docker.IO ", "[::1]:5000"}})
	for _, tc := range []struct {
		upstream string
		ok       bool
	}{
		{"quay.io", true},
		{"quay.io/someorg", true},
		{"quay.io:8443", true}, // a host entry allows any port
		{"QUAY.io", true},
		{"docker.io/library", true},
		{"registry.local:5000", true},
		{"registry.local", false},
		{"registry.local:5001", false},
		{"mirror.example.com", true},
		{"a.b.example.com:444", true},
		{"example.com", false},
		{"badexample.com", false},
		{"[::1]:5000", true},
		{"[::1]:5001", false},
		{"127.0.0.1", false},
		{"quay.io.evil.com", false},
	} {
		err := svc.CheckUpstream(tc.upstream)
		if tc.ok && err != nil {
			t.Errorf("CheckUpstream(%q) = %v, want allowed", tc.upstream, err)
		}
		if !tc.ok && !core.IsCode(err, core.CodeInvalid) {
			t.Errorf("CheckUpstream(%q) = %v, want refused", tc.upstream, err)
		}
	}
	// Without an allowlist any well-formed upstream is accepted.
	open := proxycache.New(nil, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), proxycache.Options{})
	if err := open.CheckUpstream("127.0.0.1:5000"); err != nil {
		t.Fatalf("CheckUpstream without an allowlist: %v", err)
	}
}

// With internal upstreams blocked, an upstream on a loopback address is
// never reached, unless its host is allowlisted; an upstream outside the
// allowlist is never reached either.
func TestBlockInternalUpstreams(t *testing.T) {
	e := newEnv(t, "")
	img := randomImage(t, 1024, 1)
	e.up.push(t, "library/in:1", img)
	before := e.up.total("/v2/")

	pull := func(opts proxycache.Options) error {
		t.Helper()
		host := hostOf(e.serverWith(e.db, e.blobs, opts).URL)
		_, err := remote.Image(mustRef(t, host+"/cache/library/in:1"), remote.WithContext(t.Context()), remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
		return err
	}
	wantCode(t, pull(proxycache.Options{BlockInternalUpstreams: true}), "UNAVAILABLE")
	wantCode(t, pull(proxycache.Options{UpstreamAllowlist: []string{"quay.io"}}), "UNAVAILABLE")
	wantCode(t, pull(proxycache.Options{BlockInternalUpstreams: true, UpstreamAllowlist: []string{"quay.io"}}), "UNAVAILABLE")
	if n := e.up.total("/v2/"); n != before {
		t.Fatalf("%d requests reached the blocked upstream", n-before)
	}
	if err := pull(proxycache.Options{BlockInternalUpstreams: true, UpstreamAllowlist: []string{e.up.host}}); err != nil {
		t.Fatalf("pull from an allowlisted internal upstream: %v", err)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}
