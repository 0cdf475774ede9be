// Command proxycache measures the pull-through cache: an image of random
// layers is pushed to the CNCF distribution registry (the upstream, run from
// its binary on loopback); a proxy-cache organization of an in-process Wharf
// (SQLite, filesystem blobs, the /v2/ handler and the cache, no
// authentication) fetches it once (the cold pull), and then the same
// complete pulls (manifest by tag, config, layers) run against the cache
// (warm) and directly against the upstream, from concurrent clients.
//
//	go run ./bench/proxycache [-layers 4] [-layer-mib 16] [-clients 8] [-rounds 4] [-distribution-bin PATH]
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/blob/fs"
	"github.com/wharfhq/wharf/internal/proxycache"
	"github.com/wharfhq/wharf/internal/registry"
	"github.com/wharfhq/wharf/internal/store"
)

func main() {
	layers := flag.Int("layers", 4, "layers in the image")
	layerMiB := flag.Int("layer-mib", 16, "size of each layer in MiB")
	clients := flag.Int("clients", 8, "concurrent pulling clients")
	rounds := flag.Int("rounds", 4, "complete pulls per client")
	bin := flag.String("distribution-bin", "", "distribution registry binary (default: PATH, then .tools/bin/registry)")
	flag.Parse()
	if err := run(*layers, *layerMiB, *clients, *rounds, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "proxycache bench:", err)
		os.Exit(1)
	}
}

func run(layers, layerMiB, clients, rounds int, bin string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "wharf-proxycache-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	upstream, stop, err := startDistribution(bin, filepath.Join(dir, "upstream"))
	if err != nil {
		return err
	}
	defer stop()

	img, err := pushImage(ctx, upstream, "library/bench", "1", layers, layerMiB<<20)
	if err != nil {
		return fmt.Errorf("push to the upstream: %w", err)
	}

	db, err := store.OpenSQLite(ctx, filepath.Join(dir, "wharf", "wharf.db"), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	blobs, err := fs.New(filepath.Join(dir, "wharf", "blobs"))
	if err != nil {
		return err
	}
	box, err := auth.NewBox("bench-secret-key-0123456789")
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cache := proxycache.New(db, blobs, box, log, proxycache.Options{})
	srv := httptest.NewServer(registry.New(db, blobs, log, registry.Options{Upstream: cache}))
	defer srv.Close()
	owner, err := db.CreateUser(ctx, store.NewUser{Username: "owner", Email: "owner@example.com"})
	if err != nil {
		return err
	}
	if _, err := db.CreateOrganization(ctx, "cache", "", owner.ID); err != nil {
		return err
	}
	if err := db.CreateProxyCacheConfig(ctx, store.ProxyCacheConfig{Namespace: "cache", UpstreamRegistry: upstream,
		ExpirationS: 86400}); err != nil {
		return err
	}
	wharf := strings.TrimPrefix(srv.URL, "http://")
	size := img.bytes()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2}}

	start := time.Now()
	if err := pull(ctx, client, wharf, "cache/library/bench", "1", img); err != nil {
		return fmt.Errorf("cold pull: %w", err)
	}
	cold := time.Since(start)

	warm, err := pulls(ctx, client, wharf, "cache/library/bench", img, clients, rounds)
	if err != nil {
		return fmt.Errorf("warm pulls: %w", err)
	}
	direct, err := pulls(ctx, client, upstream, "library/bench", img, clients, rounds)
	if err != nil {
		return fmt.Errorf("direct pulls: %w", err)
	}
	mb := func(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }
	total := size * int64(clients*rounds)
	fmt.Printf("image: %d layers of %d MiB (%.1f MB); %d clients x %d complete pulls\n", layers, layerMiB, float64(size)/1e6, clients, rounds)
	fmt.Printf("%-44s %10s %10s\n", "", "time", "MB/s")
	fmt.Printf("%-44s %10s %10.0f\n", "cold pull through the cache (1 client)", cold.Round(time.Millisecond), mb(size, cold))
	fmt.Printf("%-44s %10s %10.0f\n", "warm pulls from the cache", warm.Round(time.Millisecond), mb(total, warm))
	fmt.Printf("%-44s %10s %10.0f\n", "direct pulls from the upstream", direct.Round(time.Millisecond), mb(total, direct))
	fmt.Printf("warm cache / direct upstream throughput: %.2fx\n", direct.Seconds()/warm.Seconds())
	return nil
}

// image is what the bench pushed: the manifest and its blobs' digests.
type image struct {
	manifest []byte
	blobs    map[string]int64
}

func (i image) bytes() int64 {
	var n int64
	for _, s := range i.blobs {
		n += s
	}
	return n
}

// pushImage pushes an image of random layers (monolithic uploads).
func pushImage(ctx context.Context, host, repo, tag string, layers, size int) (image, error) {
	img := image{blobs: map[string]int64{}}
	put := func(b []byte) (string, error) {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+host+"/v2/"+repo+"/blobs/uploads/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return "", fmt.Errorf("start upload: HTTP %d", resp.StatusCode)
		}
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "http") {
			loc = "http://" + host + loc
		}
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodPut, loc+sep+"digest="+d, bytes.NewReader(b))
		req.ContentLength = int64(len(b))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return "", fmt.Errorf("finish upload: HTTP %d", resp.StatusCode)
		}
		img.blobs[d] = int64(len(b))
		return d, nil
	}
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cd, err := put(config)
	if err != nil {
		return img, err
	}
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	}
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{2, "application/vnd.oci.image.manifest.v1+json", desc{"application/vnd.oci.image.config.v1+json", cd, int64(len(config))}, nil}
	for i := 0; i < layers; i++ {
		b := make([]byte, size)
		_, _ = rand.Read(b)
		d, err := put(b)
		if err != nil {
			return img, err
		}
		m.Layers = append(m.Layers, desc{"application/vnd.oci.image.layer.v1.tar+gzip", d, int64(size)})
	}
	img.manifest, _ = json.Marshal(m)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+host+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(img.manifest))
	req.Header.Set("Content-Type", m.MediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return img, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return img, fmt.Errorf("put manifest: HTTP %d", resp.StatusCode)
	}
	return img, nil
}

// pull fetches the manifest by tag and every blob, checking sizes.
func pull(ctx context.Context, c *http.Client, host, repo, tag string, img image) error {
	get := func(path, accept string) (int64, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/"+repo+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
		}
		return n, err
	}
	if _, err := get("/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json"); err != nil {
		return err
	}
	for d, size := range img.blobs {
		n, err := get("/blobs/"+d, "")
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("blob %s: %d bytes, want %d", d, n, size)
		}
	}
	return nil
}

// pulls runs rounds complete pulls on each of clients goroutines and
// returns the wall time.
func pulls(ctx context.Context, c *http.Client, host, repo string, img image, clients, rounds int) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				if err := pull(ctx, c, host, repo, "1", img); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	return d, errors.Join(drain(errs)...)
}

func drain(ch chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

// startDistribution runs the distribution registry on a free loopback port
// with filesystem storage in dir, and returns its host:port.
func startDistribution(bin, dir string) (string, func(), error) {
	if bin == "" {
		if p, err := exec.LookPath("registry"); err == nil {
			bin = p
		} else {
			bin = filepath.Join(".tools", "bin", "registry")
		}
	}
	if _, err := os.Stat(bin); err != nil {
		return "", nil, fmt.Errorf("distribution registry binary not found (%v): GOBIN=$PWD/.tools/bin go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", nil, err
	}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n"+
		"  cache:\n    blobdescriptor: inmemory\nhttp:\n  addr: %s\n  secret: proxycache-bench\n", filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, stop, nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("the distribution registry did not start on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
