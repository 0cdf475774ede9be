package proxycache

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

// Organization administrators choose upstream registries, so the cache
// could be pointed at internal services (Quay allows that too). Two
// optional settings restrict it:
//   - Options.UpstreamAllowlist: only these upstream hosts may be
//     configured or fetched from. An entry is a host ("quay.io", any port),
//     a host with a port ("10.0.0.5:5000"), or "*.example.com" (any
//     subdomain).
//   - Options.BlockInternalUpstreams: connections to loopback, link-local
//     (cloud metadata services), private, unique-local, unspecified and
//     multicast addresses are refused when they are made (so host names
//     resolving there, and the token realms and redirects of an upstream,
//     are covered), except for allowlisted upstream hosts.

// upstreamAllowed reports whether host[:port] of an upstream is allowed.
func (s *Service) upstreamAllowed(up Upstream) bool {
	if len(s.opts.UpstreamAllowlist) == 0 {
		return true
	}
	return allowlisted(s.opts.UpstreamAllowlist, up.Host)
}

// allowlisted matches an upstream host[:port] against allowlist entries.
func allowlisted(list []string, hostport string) bool {
	hostport = strings.ToLower(hostport)
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	for _, e := range list {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "":
		case strings.HasPrefix(e, "*."):
			if strings.HasSuffix(host, e[1:]) && len(host) > len(e)-1 {
				return true
			}
		case e == hostport || strings.Trim(e, "[]") == host:
			return true
		}
	}
	return false
}

// checkAllowed refuses an upstream outside the allowlist.
func (s *Service) checkAllowed(up Upstream) error {
	if s.upstreamAllowed(up) {
		return nil
	}
	return core.Errorf(core.CodeInvalid, "upstream registry %q is not in PROXY_CACHE_UPSTREAM_ALLOWLIST", truncate(up.Host))
}

// transportFor is the base transport for an upstream: guarded against
// internal addresses when BlockInternalUpstreams is on and the host is not
// allowlisted.
func (s *Service) transportFor(up Upstream) http.RoundTripper {
	if !s.opts.BlockInternalUpstreams || allowlisted(s.opts.UpstreamAllowlist, up.Host) {
		return s.opts.Transport
	}
	return s.guarded
}

// guardedTransport is base with a dialer that refuses internal addresses.
func guardedTransport(base http.RoundTripper) http.RoundTripper {
	t, ok := base.(*http.Transport)
	if !ok || t == nil {
		t = http.DefaultTransport.(*http.Transport)
	}
	t = t.Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: refuseInternal}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	// A proxy would be dialled instead of the upstream: the guard could
	// not see the upstream's address.
	t.Proxy = nil
	return t
}

// refuseInternal is a dialer's Control: it sees the resolved address.
func refuseInternal(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("proxy cache: unexpected address %q", address)
	}
	if InternalAddr(ap.Addr()) {
		return fmt.Errorf("proxy cache: upstream address %s is internal (PROXY_CACHE_BLOCK_INTERNAL_UPSTREAMS)", ap.Addr())
	}
	return nil
}

// InternalAddr reports whether an address is one an upstream registry
// should not have: loopback, link-local, private, unique-local,
// unspecified, multicast (IPv4-mapped IPv6 addresses as their IPv4 form).
func InternalAddr(a netip.Addr) bool {
	a = a.Unmap()
	return !a.IsValid() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsPrivate() || a.IsUnspecified() ||
		// The shared address space of carrier-grade NAT (RFC 6598).
		netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, 0, 0}), 10).Contains(a)
}
