package proxycache

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

// Upstream is a parsed upstream_registry: a registry host (with an optional
// port) and an optional namespace prefix prepended to every repository path.
type Upstream struct {
	Host   string // as configured: "docker.io", "quay.io", "127.0.0.1:5000"
	Prefix string // "library", "someorg", or ""
}

// String is the upstream_registry form.
func (u Upstream) String() string {
	if u.Prefix == "" {
		return u.Host
	}
	return u.Host + "/" + u.Prefix
}

// Repository is the upstream repository path for a path inside the proxy
// organization ("library/alpine" under "docker.io" is "library/alpine";
// "alpine" under "docker.io/library" is "library/alpine"). Docker Hub's
// single-component names get "library/" as docker does.
func (u Upstream) Repository(path string) string {
	p := path
	if u.Prefix != "" {
		p = u.Prefix + "/" + path
	}
	if u.isDockerHub() && !strings.Contains(p, "/") {
		p = "library/" + p
	}
	return p
}

// RegistryHost is the host to talk to (Docker Hub's API host for docker.io).
func (u Upstream) RegistryHost() string {
	if u.isDockerHub() {
		return "index.docker.io"
	}
	return u.Host
}

func (u Upstream) isDockerHub() bool {
	switch u.Host {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return true
	}
	return false
}

// MaxUpstreamLen bounds upstream_registry.
const MaxUpstreamLen = 255

// ParseUpstream parses upstream_registry: host[:port][/prefix], without a
// scheme, user information, query or trailing slash. The host is a DNS name
// or an IP address (IPv6 in brackets); the prefix follows the repository
// name grammar.
func ParseUpstream(s string) (Upstream, error) {
	bad := func(why string) (Upstream, error) {
		return Upstream{}, core.Errorf(core.CodeInvalid, "invalid upstream_registry %q: %s", truncate(s), why)
	}
	if s == "" {
		return bad("it is required")
	}
	if len(s) > MaxUpstreamLen {
		return bad(fmt.Sprintf("longer than %d characters", MaxUpstreamLen))
	}
	if strings.Contains(s, "://") {
		return bad("give the registry without a scheme (set insecure for plain HTTP)")
	}
	host, prefix, _ := strings.Cut(s, "/")
	if err := validHost(host); err != nil {
		return bad(err.Error())
	}
	if prefix != "" || strings.HasSuffix(s, "/") {
		if err := oci.ValidateName(prefix + "/x"); err != nil || strings.Contains(prefix, "//") {
			return bad("the namespace prefix is not a valid repository path")
		}
	}
	return Upstream{Host: strings.ToLower(host), Prefix: prefix}, nil
}

func validHost(hp string) error {
	if hp == "" {
		return fmt.Errorf("the registry host is empty")
	}
	host, port := hp, ""
	if strings.HasPrefix(hp, "[") {
		end := strings.Index(hp, "]")
		if end < 0 {
			return fmt.Errorf("unterminated IPv6 address")
		}
		host, port = hp[1:end], strings.TrimPrefix(hp[end+1:], ":")
		if hp[end+1:] != "" && !strings.HasPrefix(hp[end+1:], ":") {
			return fmt.Errorf("unexpected characters after the IPv6 address")
		}
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return fmt.Errorf("invalid IPv6 address")
		}
	} else if i := strings.LastIndexByte(hp, ':'); i >= 0 {
		host, port = hp[:i], hp[i+1:]
		if port == "" {
			return fmt.Errorf("empty port")
		}
	}
	if strings.HasPrefix(hp, "[") && port == "" && strings.HasSuffix(hp, ":") {
		return fmt.Errorf("empty port")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return fmt.Errorf("invalid port %q", truncate(port))
		}
	}
	if strings.HasPrefix(hp, "[") {
		return nil
	}
	if len(host) > 253 {
		return fmt.Errorf("host name too long")
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("invalid host name %q", truncate(host))
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(label)-1
			if !ok {
				return fmt.Errorf("invalid host name %q", truncate(host))
			}
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
