package mirror

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

func TestParseExternalReference(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"quay.io/org/repo", true},
		{"127.0.0.1:5000/library/alpine", true},
		{"localhost/a/b/c", true},
		{"registry.example.com/x", true},
		{"", false},
		{"alpine", false},
		{"library/alpine", false},
		{"quay.io/org/repo:latest", false},
		{"quay.io/org/repo@sha256:" + "0000000000000000000000000000000000000000000000000000000000000000", false},
		{"https://quay.io/org/repo", false},
		{"quay.io/Org/Repo", false},
		{"quay.io/", false},
		{"quay.io/org repo", false},
	} {
		_, err := ParseExternalReference(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseExternalReference(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && !core.IsCode(err, core.CodeInvalid) {
			t.Errorf("ParseExternalReference(%q): error %v is not CodeInvalid", tc.in, err)
		}
	}
}

func TestParseTagPatterns(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
		ok   bool
	}{
		{[]string{"latest"}, []string{"latest"}, true},
		{[]string{"v1.*", " 2.? "}, []string{"v1.*", "2.?"}, true},
		{[]string{"a,b, c"}, []string{"a", "b", "c"}, true},
		{[]string{"[0-9]*"}, []string{"[0-9]*"}, true},
		{nil, nil, false},
		{[]string{"", " , "}, nil, false},
		{[]string{"[unclosed"}, nil, false},
	} {
		got, err := ParseTagPatterns(tc.in)
		if (err == nil) != tc.ok || (tc.ok && !slices.Equal(got, tc.want)) {
			t.Errorf("ParseTagPatterns(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestMatchTag(t *testing.T) {
	pats := []string{"v1.*", "latest", "[0-9]*"}
	for tag, want := range map[string]bool{"v1.2": true, "v1.": true, "v2.0": false, "latest": true, "latest2": false,
		"3.14": true, "sha256-abc": false} {
		if got := MatchTag(pats, tag); got != want {
			t.Errorf("MatchTag(%q) = %v, want %v", tag, got, want)
		}
	}
}

func TestParseArchitectures(t *testing.T) {
	for _, tc := range []struct {
		in []string
		ok bool
	}{
		{nil, true},
		{[]string{"amd64", "arm64", "ppc64le", "s390x"}, true},
		{[]string{"AMD64"}, false},
		{[]string{""}, false},
		{[]string{"arm/v7"}, false},
	} {
		if _, err := ParseArchitectures(tc.in); (err == nil) != tc.ok {
			t.Errorf("ParseArchitectures(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestParseRegistryConfig(t *testing.T) {
	ca := testCAPEM(t)
	caJSON, _ := json.Marshal(ca)
	for _, tc := range []struct {
		in   string
		want RegistryConfig
		ok   bool
	}{
		{``, RegistryConfig{VerifyTLS: true}, true},
		{`{}`, RegistryConfig{VerifyTLS: true}, true},
		{`{"verify_tls":false,"unsigned_images":true}`, RegistryConfig{UnsignedImages: true}, true},
		{`{"proxy":{"http_proxy":"http://proxy:3128","https_proxy":null,"no_proxy":"localhost"}}`,
			RegistryConfig{VerifyTLS: true, Proxy: Proxy{HTTPProxy: "http://proxy:3128", NoProxy: "localhost"}}, true},
		{`{"ca_certificate":` + string(caJSON) + `}`, RegistryConfig{VerifyTLS: true, CACertificate: ca}, true},
		{`{"proxy":{"http_proxy":"proxy:3128"}}`, RegistryConfig{}, false},
		{`{"verify_tls":"yes"}`, RegistryConfig{}, false},
		{`{"ca_certificate":"not a certificate"}`, RegistryConfig{}, false},
		{`[1]`, RegistryConfig{}, false},
	} {
		got, err := ParseRegistryConfig([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseRegistryConfig(%s) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !core.IsCode(err, core.CodeInvalid) {
			t.Errorf("ParseRegistryConfig(%s): error %v is not CodeInvalid", tc.in, err)
		}
	}
}

func FuzzParseExternalReference(f *testing.F) {
	for _, s := range []string{"quay.io/org/repo", "127.0.0.1:5000/a", "a", "quay.io/x:y", "localhost/a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseExternalReference(s)
		if err == nil && r.RegistryStr() == "" {
			t.Fatalf("accepted %q without a registry", s)
		}
		if err != nil && !core.IsCode(err, core.CodeInvalid) {
			t.Fatalf("ParseExternalReference(%q): %v", s, err)
		}
	})
}

func FuzzParseTagPatterns(f *testing.F) {
	for _, s := range []string{"v*", "a,b", "[x", "", "latest"} {
		f.Add(s, "v1")
	}
	f.Fuzz(func(t *testing.T, pattern, tag string) {
		pats, err := ParseTagPatterns([]string{pattern})
		if err != nil {
			if !core.IsCode(err, core.CodeInvalid) {
				t.Fatalf("ParseTagPatterns(%q): %v", pattern, err)
			}
			return
		}
		_ = MatchTag(pats, tag)
	})
}

func FuzzParseRegistryConfig(f *testing.F) {
	for _, s := range []string{`{}`, `{"verify_tls":false}`, `{"proxy":{"http_proxy":"http://p:1"}}`, `null`, `{"ca_certificate":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseRegistryConfig(b)
		if err != nil {
			if !core.IsCode(err, core.CodeInvalid) {
				t.Fatalf("ParseRegistryConfig(%q): %v", b, err)
			}
			return
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseRegistryConfig(out)
		if err != nil || again != c {
			t.Fatalf("round trip of %q: %+v, %v", b, again, err)
		}
	})
}

func FuzzParseArchitectures(f *testing.F) {
	for _, s := range []string{"amd64", "arm64,ppc64le", "", "x y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseArchitectures(strings.Split(s, ","))
		if err != nil {
			if !core.IsCode(err, core.CodeInvalid) {
				t.Fatal(err)
			}
			return
		}
		for _, a := range got {
			if a == "" || strings.ContainsAny(a, " /,") {
				t.Fatalf("accepted %q", a)
			}
		}
	})
}
