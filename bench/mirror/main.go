// Command mirror measures repository mirroring: it starts the CNCF
// distribution registry as the upstream, pushes -images small images (one
// tag each, two layers of -layer-size random bytes, one layer shared by
// all), and times a first sync into an empty Wharf (SQLite store,
// filesystem blobs, the sync run in-process as a worker runs it), then a
// second sync with nothing to copy.
//
//	go run ./bench/mirror [-images 100] [-layer-size 4096] [-distribution-bin PATH]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/wharfhq/wharf/internal/auth"
	blobfs "github.com/wharfhq/wharf/internal/blob/fs"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/mirror"
	"github.com/wharfhq/wharf/internal/store"
)

func main() {
	images := flag.Int("images", 100, "images (tags) in the upstream repository")
	layerSize := flag.Int64("layer-size", 4096, "bytes per random layer")
	bin := flag.String("distribution-bin", "", "the distribution registry binary (default: PATH, then .tools/bin/registry)")
	flag.Parse()
	if err := run(*images, *layerSize, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "mirror bench:", err)
		os.Exit(1)
	}
}

func findRegistry(flagPath string) (string, error) {
	if flagPath != "" {
		return flagPath, nil
	}
	if p, err := exec.LookPath("registry"); err == nil {
		return p, nil
	}
	p := filepath.Join(".tools", "bin", "registry")
	if _, err := os.Stat(p); err == nil {
		return filepath.Abs(p)
	}
	return "", errors.New("the distribution registry binary was not found: GOBIN=$PWD/.tools/bin go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2")
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startDistribution runs the registry with filesystem storage in dir.
func startDistribution(bin, dir string) (addr string, stop func(), err error) {
	addr, err = freeAddr()
	if err != nil {
		return "", nil, err
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %q\n"+
		"  cache:\n    blobdescriptor: inmemory\nhttp:\n  addr: %q\n  secret: %q\n", filepath.Join(dir, "data"), addr, hex.EncodeToString(secret))
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "serve", path)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, errors.New("the distribution registry did not start")
}

// push writes n images to repo: each has a shared base layer and its own.
func push(ctx context.Context, repo name.Repository, n int, layerSize int64) error {
	base, err := random.Layer(layerSize, types.OCILayer)
	if err != nil {
		return err
	}
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			own, err := random.Layer(layerSize, types.OCILayer)
			if err != nil {
				errs <- err
				return
			}
			img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
			img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
			var v1img v1.Image
			v1img, err = mutate.AppendLayers(img, base, own)
			if err != nil {
				errs <- err
				return
			}
			errs <- remote.Write(repo.Tag(fmt.Sprintf("t%03d", i)), v1img, remote.WithContext(ctx))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func run(images int, layerSize int64, binFlag string) error {
	ctx := context.Background()
	bin, err := findRegistry(binFlag)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "wharf-mirror-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, stop, err := startDistribution(bin, dir)
	if err != nil {
		return err
	}
	defer stop()
	repo, err := name.NewRepository(addr+"/bench/app", name.Insecure)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := push(ctx, repo, images, layerSize); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	fmt.Printf("pushed %d images to distribution in %s\n", images, time.Since(t0).Round(time.Millisecond))

	db, err := store.OpenSQLite(ctx, filepath.Join(dir, "wharf", "wharf.db"), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	blobs, err := blobfs.New(filepath.Join(dir, "wharf", "storage"))
	if err != nil {
		return err
	}
	box, err := auth.NewBox("mirror-benchmark-secret-key")
	if err != nil {
		return err
	}
	m, err := setup(ctx, db, addr+"/bench/app")
	if err != nil {
		return err
	}
	s := &mirror.Syncer{Meta: db, Blobs: blobs, Box: box, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, label := range []string{"first sync (empty wharf)", "second sync (nothing new)"} {
		t0 := time.Now()
		rep, err := s.Sync(ctx, m, "")
		if err != nil {
			return err
		}
		if len(rep.Failed) > 0 {
			return fmt.Errorf("tags failed: %s", strings.Join(rep.Failed, ", "))
		}
		d := time.Since(t0)
		fmt.Printf("%-26s %4d tags  %4d manifests fetched  %4d blobs fetched  %8s  (%.1f ms/tag)\n", label,
			len(rep.Synced), rep.Manifests, rep.BlobsCopied, d.Round(time.Millisecond), float64(d.Microseconds())/1000/float64(len(rep.Synced)))
	}
	return nil
}

// setup creates the organization, its robot and the MIRROR repository with
// a mirror of every tag of ref.
func setup(ctx context.Context, db *store.DB, ref string) (store.Mirror, error) {
	owner, err := db.CreateUser(ctx, store.NewUser{Username: "owner", Email: "owner@example.com", PasswordHash: "x"})
	if err != nil {
		return store.Mirror{}, err
	}
	if _, err := db.CreateOrganization(ctx, "acme", "", owner.ID); err != nil {
		return store.Mirror{}, err
	}
	robot, err := db.CreateRobot(ctx, "acme", "mirror", "unused", "", "")
	if err != nil {
		return store.Mirror{}, err
	}
	const repo = "acme/app"
	if _, err := db.CreateRepository(ctx, store.NewRepository{FullName: repo, Visibility: core.VisibilityPrivate}); err != nil {
		return store.Mirror{}, err
	}
	if err := db.SetUserPermission(ctx, repo, robot.Username, core.RoleWrite); err != nil {
		return store.Mirror{}, err
	}
	st := core.RepoStateMirror
	if _, err := db.UpdateRepository(ctx, repo, store.RepositoryUpdate{State: &st}); err != nil {
		return store.Mirror{}, err
	}
	if err := db.CreateMirror(ctx, repo, store.MirrorConfig{IsEnabled: true, ExternalReference: ref, RobotID: robot.ID,
		SyncInterval: 3600, SyncStartDate: time.Now(), RuleValue: []string{"*"}, RegistryConfig: []byte(`{"verify_tls":false}`),
		DeleteObsoleteTags: true}); err != nil {
		return store.Mirror{}, err
	}
	return db.Mirror(ctx, repo)
}
