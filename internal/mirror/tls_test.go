package mirror

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharfhq/wharf/internal/store"
)

// An HTTPS upstream with its own CA: trusted through ca_certificate,
// refused without it, accepted with verify_tls off.
func TestSyncTLSUpstream(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	base := host + "/secure/app"
	_, d := pushImage(t, base+":v1", 1, remote.WithTransport(srv.Client().Transport))
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	cfg := func(c RegistryConfig) func(*store.MirrorConfig) {
		return func(m *store.MirrorConfig) {
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			m.RegistryConfig = b
		}
	}

	e.configure(t, base, []string{"*"}, cfg(RegistryConfig{VerifyTLS: true}))
	if _, err := e.sync(t); err == nil {
		t.Fatal("a sync trusted an unknown CA")
	}
	e.configure(t, base, []string{"*"}, cfg(RegistryConfig{VerifyTLS: true, CACertificate: caPEM}))
	e.mustSync(t)
	if tags := e.tags(t); tags["v1"] != d {
		t.Fatalf("tags %v", tags)
	}
	e.configure(t, base, []string{"*"}, cfg(RegistryConfig{VerifyTLS: false}))
	e.mustSync(t)
}

func TestHTTPSOnlyRefusesPlainHTTP(t *testing.T) {
	up, err := NewUpstream("registry.internal:5000/a/b", "", "", RegistryConfig{VerifyTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := up.transport()
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://10.0.0.1:5000/v2/", nil)
	if _, err := rt.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "plain HTTP") {
		t.Fatalf("plain HTTP to a private address: %v", err)
	}
}

// With a proxy configured, the upstream is reached through it (here an
// upstream name that only the proxy resolves).
func TestSyncThroughProxy(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	pushImage(t, up.host+"/library/app:v1", 1)
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect || r.URL.Host != "registry.example.invalid:5000" {
			http.Error(w, "no", http.StatusBadGateway)
			return
		}
		proxied.Add(1)
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Host = up.host
		out.Host = up.host
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)
	e.configure(t, "registry.example.invalid:5000/library/app", []string{"*"}, func(c *store.MirrorConfig) {
		c.RegistryConfig = []byte(`{"verify_tls":false,"proxy":{"http_proxy":"` + proxy.URL + `","https_proxy":"` + proxy.URL + `"}}`)
	})
	e.mustSync(t)
	if len(e.tags(t)) != 1 || proxied.Load() == 0 {
		t.Fatalf("tags %v, %d proxied requests", e.tags(t), proxied.Load())
	}
}
