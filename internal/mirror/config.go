package mirror

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/wharfhq/wharf/internal/core"
)

// Limits on what a mirror configuration may hold.
const (
	maxPatterns      = 100
	maxPatternLen    = 255
	maxArchitectures = 32
	maxReferenceLen  = 1024
	maxCALen         = 64 << 10
)

// RegistryConfig is Quay's external_registry_config, plus ca_certificate:
// PEM certificates trusted (in addition to the system's) when verifying the
// upstream's TLS certificate.
type RegistryConfig struct {
	VerifyTLS bool `json:"verify_tls"`
	// UnsignedImages is kept for Quay compatibility and changes nothing: in
	// Quay it lets a sync strip simple-signing (GPG) signatures that the
	// destination cannot store; a sync here never copies those (they are
	// not manifests), and copies sigstore/cosign signatures (OCI
	// referrers) whatever the value.
	UnsignedImages bool   `json:"unsigned_images"`
	Proxy          Proxy  `json:"proxy"`
	CACertificate  string `json:"ca_certificate,omitempty"`
}

// Proxy are the HTTP proxies a sync uses (empty: none).
type Proxy struct {
	HTTPProxy  string `json:"http_proxy,omitempty"`
	HTTPSProxy string `json:"https_proxy,omitempty"`
	NoProxy    string `json:"no_proxy,omitempty"`
}

func invalid(format string, a ...any) error { return core.Errorf(core.CodeInvalid, format, a...) }

// ParseRegistryConfig decodes and validates external_registry_config; an
// empty document is the default (verify_tls on).
func ParseRegistryConfig(b []byte) (RegistryConfig, error) {
	c := RegistryConfig{VerifyTLS: true}
	if len(strings.TrimSpace(string(b))) == 0 || string(b) == "null" {
		return c, nil
	}
	var raw struct {
		VerifyTLS      *bool `json:"verify_tls"`
		UnsignedImages *bool `json:"unsigned_images"`
		Proxy          *struct {
			HTTPProxy  *string `json:"http_proxy"`
			HTTPSProxy *string `json:"https_proxy"`
			NoProxy    *string `json:"no_proxy"`
		} `json:"proxy"`
		CACertificate *string `json:"ca_certificate"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return c, invalid("external_registry_config: %s", shorten(err.Error()))
	}
	if raw.VerifyTLS != nil {
		c.VerifyTLS = *raw.VerifyTLS
	}
	if raw.UnsignedImages != nil {
		c.UnsignedImages = *raw.UnsignedImages
	}
	if p := raw.Proxy; p != nil {
		for _, f := range []struct {
			name string
			in   *string
			out  *string
		}{{"http_proxy", p.HTTPProxy, &c.Proxy.HTTPProxy}, {"https_proxy", p.HTTPSProxy, &c.Proxy.HTTPSProxy}} {
			if f.in == nil || *f.in == "" {
				continue
			}
			u, err := url.Parse(*f.in)
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
				return c, invalid("external_registry_config.proxy.%s must be a URL such as http://proxy:3128", f.name)
			}
			*f.out = *f.in
		}
		if p.NoProxy != nil {
			if len(*p.NoProxy) > maxReferenceLen {
				return c, invalid("external_registry_config.proxy.no_proxy is too long")
			}
			c.Proxy.NoProxy = *p.NoProxy
		}
	}
	if raw.CACertificate != nil && *raw.CACertificate != "" {
		if _, err := ParseCACertificate(*raw.CACertificate); err != nil {
			return c, err
		}
		c.CACertificate = *raw.CACertificate
	}
	return c, nil
}

// ParseCACertificate parses PEM certificates into a pool.
func ParseCACertificate(s string) (*x509.CertPool, error) {
	certs, err := parseCertificates(s)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

func parseCertificates(s string) ([]*x509.Certificate, error) {
	if len(s) > maxCALen {
		return nil, invalid("external_registry_config.ca_certificate is too large")
	}
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, invalid("external_registry_config.ca_certificate: %s", shorten(err.Error()))
		}
		out = append(out, cert)
	}
	if len(out) == 0 {
		return nil, invalid("external_registry_config.ca_certificate holds no PEM certificate")
	}
	return out, nil
}

// ParseExternalReference validates external_reference: a repository with
// its registry host (quay.io/org/repo, 127.0.0.1:5000/library/alpine), no
// tag or digest.
func ParseExternalReference(s string) (name.Repository, error) {
	if s == "" {
		return name.Repository{}, invalid("Empty string is an invalid repository location.")
	}
	if len(s) > maxReferenceLen || strings.ContainsAny(s, "@ \t\r\n") || strings.Contains(s, "://") {
		return name.Repository{}, invalid("external_reference must be HOST/PATH without scheme, tag or digest")
	}
	host, rest, ok := strings.Cut(s, "/")
	if !ok || rest == "" || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return name.Repository{}, invalid("external_reference must name the registry host, e.g. quay.io/org/repo")
	}
	if strings.Contains(rest, ":") {
		return name.Repository{}, invalid("external_reference must not carry a tag")
	}
	repo, err := name.NewRepository(s, name.StrictValidation)
	if err != nil {
		return name.Repository{}, invalid("external_reference: %s", shorten(err.Error()))
	}
	return repo, nil
}

// ParseTagPatterns validates the tag glob patterns of a tag_glob_csv rule.
// An entry may itself be comma-separated; patterns are trimmed and use
// shell glob syntax (*, ?, [a-z]). At least one pattern is required.
func ParseTagPatterns(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if len(p) > maxPatternLen {
				return nil, invalid("tag pattern %q is too long", shorten(p))
			}
			if _, err := path.Match(p, ""); err != nil {
				return nil, invalid("invalid tag pattern %q", shorten(p))
			}
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, invalid("root_rule.rule_value needs at least one tag pattern")
	}
	if len(out) > maxPatterns {
		return nil, invalid("root_rule.rule_value holds more than %d patterns", maxPatterns)
	}
	return out, nil
}

// MatchTag reports whether a tag matches any of the (valid) patterns.
func MatchTag(patterns []string, tag string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, tag); ok {
			return true
		}
	}
	return false
}

// ParseArchitectures validates architecture_filter: platform architectures
// such as amd64, arm64, ppc64le, s390x.
func ParseArchitectures(values []string) ([]string, error) {
	if len(values) > maxArchitectures {
		return nil, invalid("architecture_filter holds more than %d entries", maxArchitectures)
	}
	out := make([]string, 0, len(values))
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" || len(v) > 32 {
			return nil, invalid("invalid architecture %q", shorten(v))
		}
		for _, c := range v {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
				return nil, invalid("invalid architecture %q", shorten(v))
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func shorten(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

// errorf is a wrapped error with the mirror's prefix.
func errorf(format string, a ...any) error { return fmt.Errorf("mirror: "+format, a...) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
