package proxycache

import (
	"strings"
	"testing"
)

func TestParseUpstream(t *testing.T) {
	for _, tc := range []struct {
		in       string
		host     string
		prefix   string
		apiHost  string
		path     string
		upstream string
		bad      string
	}{
		{in: "docker.io", host: "docker.io", apiHost: "index.docker.io", path: "alpine", upstream: "library/alpine"},
		{in: "docker.io", host: "docker.io", apiHost: "index.docker.io", path: "library/alpine", upstream: "library/alpine"},
		{in: "docker.io/library", host: "docker.io", prefix: "library", apiHost: "index.docker.io", path: "alpine", upstream: "library/alpine"},
		{in: "quay.io/someorg", host: "quay.io", prefix: "someorg", apiHost: "quay.io", path: "app", upstream: "someorg/app"},
		{in: "Quay.IO/someorg/team", host: "quay.io", prefix: "someorg/team", apiHost: "quay.io", path: "a/b", upstream: "someorg/team/a/b"},
		{in: "127.0.0.1:5000", host: "127.0.0.1:5000", apiHost: "127.0.0.1:5000", path: "alpine", upstream: "alpine"},
		{in: "[::1]:5000/x", host: "[::1]:5000", prefix: "x", apiHost: "[::1]:5000", path: "y", upstream: "x/y"},
		{in: "registry.example.com:443", host: "registry.example.com:443", apiHost: "registry.example.com:443", path: "y", upstream: "y"},
		{in: "", bad: "required"},
		{in: "https://quay.io", bad: "scheme"},
		{in: "quay.io/", bad: "prefix"},
		{in: "quay.io//x", bad: "prefix"},
		{in: "quay.io/UPPER", bad: "prefix"},
		{in: "quay.io:", bad: "port"},
		{in: "quay.io:0", bad: "port"},
		{in: "quay.io:65536", bad: "port"},
		{in: "quay.io:08", bad: "port"},
		{in: "quay..io", bad: "host"},
		{in: "-quay.io", bad: "host"},
		{in: "user@quay.io", bad: "host"},
		{in: "quay.io?x=1", bad: "host"},
		{in: "[::1", bad: "IPv6"},
		{in: "[127.0.0.1]:80", bad: "IPv6"},
		{in: "[::1]x", bad: "after"},
		{in: "/library", bad: "empty"},
		{in: strings.Repeat("a", 256), bad: "longer"},
	} {
		u, err := ParseUpstream(tc.in)
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("ParseUpstream(%q) = %+v, %v; want an error mentioning %q", tc.in, u, err, tc.bad)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseUpstream(%q): %v", tc.in, err)
			continue
		}
		if u.Host != tc.host || u.Prefix != tc.prefix || u.RegistryHost() != tc.apiHost || u.Repository(tc.path) != tc.upstream {
			t.Errorf("ParseUpstream(%q) = %+v (api host %s, %s → %s); want %s %q %s %s", tc.in, u, u.RegistryHost(), tc.path,
				u.Repository(tc.path), tc.host, tc.prefix, tc.apiHost, tc.upstream)
		}
		if again, err := ParseUpstream(u.String()); err != nil || again != u {
			t.Errorf("ParseUpstream(%q) does not round-trip: %+v, %v", u.String(), again, err)
		}
	}
}

func FuzzParseUpstream(f *testing.F) {
	for _, s := range []string{"docker.io", "quay.io/ns", "127.0.0.1:5000/a/b", "[::1]:80", "a:b:c", "x/..", "https://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUpstream(s)
		if err != nil {
			return
		}
		if u.Host == "" || strings.Contains(u.Host, "/") || strings.ContainsAny(u.Host, "@?#") {
			t.Fatalf("ParseUpstream(%q) accepted host %q", s, u.Host)
		}
		again, err := ParseUpstream(u.String())
		if err != nil || again != u {
			t.Fatalf("ParseUpstream(%q) = %+v does not round-trip: %+v, %v", s, u, again, err)
		}
		if p := u.Repository("x"); strings.HasPrefix(p, "/") || strings.Contains(p, "//") {
			t.Fatalf("ParseUpstream(%q): repository path %q", s, p)
		}
	})
}
