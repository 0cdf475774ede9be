package s3_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob/s3"
	"github.com/wharfhq/wharf/internal/s3test"
)

// writeCerts writes a test CA (ca.pem) and a server certificate for
// 127.0.0.1 signed by it (server.pem, server.key) into dir.
func writeCerts(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, srvKey := newKey(), newKey()
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wharf test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", srvDER), write("server.key", "EC PRIVATE KEY", keyDER)
}

// An https endpoint signed by a private CA works with CACertFile, and is
// refused without it.
func TestCACertFile(t *testing.T) {
	t.Parallel() // the client retries the refused handshakes for a few seconds
	caFile, certFile, keyFile := writeCerts(t, t.TempDir())
	srv, err := s3test.StartOptions(context.Background(), s3test.Options{CertFile: certFile, KeyFile: keyFile})
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
	if err := srv.NewBucket("tls"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg := s3.Config{
		Endpoint: "https://" + srv.Endpoint, Region: "us-east-1", Bucket: "tls",
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true,
	}
	id := "tls-0123456789abcdef"
	if err := newStore(t, cfg).StartUpload(ctx, id); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("StartUpload with an unknown CA: %v", err)
	}
	cfg.CACertFile = caFile
	s := newStore(t, cfg)
	data := []byte("over https")
	d := digest.FromBytes(data)
	if err := s.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	appendAt(t, s, id, 0, data)
	if _, err := s.Commit(ctx, id, d); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readBlob(t, s, d), data) {
		t.Fatal("content differs")
	}
}
