package scanner

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gobinary"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagejson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/wheelegg"
	"github.com/google/osv-scalibr/extractor/filesystem/os/apk"
	apkmeta "github.com/google/osv-scalibr/extractor/filesystem/os/apk/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/os/dpkg"
	dpkgmeta "github.com/google/osv-scalibr/extractor/filesystem/os/dpkg/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/os/rpm"
	rpmmeta "github.com/google/osv-scalibr/extractor/filesystem/os/rpm/metadata"
	scalibrfs "github.com/google/osv-scalibr/fs"
)

// goBinaryExtractor is the name of osv-scalibr's Go binary extractor.
const goBinaryExtractor = gobinary.Name

// Indexer finds the installed packages of layers with osv-scalibr's
// extractors. Only the extractors for the package kinds the scanner matches
// are linked: dpkg, rpm, apk, Go binaries, Python (dist-info/egg-info) and
// npm (package.json). Java archives are read by javaArchives (java.go)
// instead of scalibr's archive extractor, which links a network client
// (deps.dev over gRPC) that adds about 11 MB to the binary.
type Indexer struct {
	extractors []filesystem.Extractor
	tempDir    string
}

// NewIndexer builds an indexer that spools the files it extracts under
// tempDir ("" means the system's temporary directory).
func NewIndexer(tempDir string) (*Indexer, error) {
	ix := &Indexer{tempDir: tempDir}
	for _, newFn := range []func(*cpb.PluginConfig) (filesystem.Extractor, error){
		dpkg.New, rpm.New, apk.New, gobinary.New, wheelegg.New, packagejson.New,
	} {
		e, err := newFn(&cpb.PluginConfig{})
		if err != nil {
			return nil, fmt.Errorf("scanner: extractor: %w", err)
		}
		ix.extractors = append(ix.extractors, e)
	}
	ix.extractors = append(ix.extractors, javaArchives{})
	return ix, nil
}

// fileAPI is what FileRequired sees of a tar entry.
type fileAPI struct {
	path string
	info fs.FileInfo
}

func (f fileAPI) Path() string               { return f.path }
func (f fileAPI) Stat() (fs.FileInfo, error) { return f.info, nil }

// extract runs the wanting extractors on each stored file. The files are
// under dir with their layer paths, so extractors that need a real file
// (the rpm database) read it in place. An extractor's error on one file is
// not the layer's failure: the file is treated as holding no package.
func (ix *Indexer) extract(ctx context.Context, dir string, paths []string, files map[string]*collectedFile) ([]Package, error) {
	// dpkg and rpm look for an os-release of their own; give them an empty
	// one when the layer has none, so they stay quiet. The image's
	// distribution is decided over all layers (compose).
	placeholder := filepath.Join(dir, "etc", "os-release")
	if _, err := os.Lstat(placeholder); os.IsNotExist(err) {
		if err := os.MkdirAll(filepath.Dir(placeholder), 0o700); err == nil {
			_ = os.WriteFile(placeholder, nil, 0o600)
		}
	}
	root := scalibrfs.DirFS(dir)
	var out []Package
	for _, p := range paths {
		f := files[p]
		if !f.stored || len(f.wanted) == 0 {
			continue
		}
		for _, e := range ix.extractors {
			if !slices.Contains(f.wanted, e.Name()) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			pkgs, err := runExtractor(ctx, e, root, dir, f)
			if err != nil {
				continue
			}
			out = append(out, pkgs...)
		}
	}
	return out, nil
}

func runExtractor(ctx context.Context, e filesystem.Extractor, root scalibrfs.FS, dir string, f *collectedFile) ([]Package, error) {
	rd, err := os.Open(filepath.Join(dir, filepath.FromSlash(f.path)))
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	info, err := rd.Stat()
	if err != nil {
		return nil, err
	}
	inv, err := e.Extract(ctx, &filesystem.ScanInput{FS: root, Path: f.path, Root: dir, Info: info, Reader: rd})
	if err != nil {
		return nil, err
	}
	var out []Package
	for _, sp := range inv.Packages {
		if sp == nil || sp.Name == "" || sp.Version == "" {
			continue
		}
		p := Package{Type: sp.PURLType, Name: sp.Name, Version: sp.Version, Path: f.path}
		switch m := sp.Metadata.(type) {
		case *dpkgmeta.Metadata:
			p.SourceName, p.SourceVersion = m.SourceName, m.SourceVersion
		case *rpmmeta.Metadata:
			if m.Epoch > 0 {
				p.Version = fmt.Sprintf("%d:%s", m.Epoch, sp.Version)
			}
			p.SourceName = sourceRPMName(m.SourceRPM)
		case *apkmeta.Metadata:
			p.SourceName = m.OriginName
		}
		if p.Type == "golang" {
			if p.Name == "go" {
				p.Name = "stdlib"
			}
			if !strings.HasPrefix(p.Version, "v") && p.Version != "(devel)" {
				p.Version = "v" + p.Version
			}
		}
		if p.SourceName == p.Name {
			p.SourceName = ""
		}
		if p.SourceVersion == p.Version {
			p.SourceVersion = ""
		}
		out = append(out, p)
	}
	return out, nil
}

// sourceRPMName reads the name from a source rpm file name
// ("bash-5.1.8-9.el9.src.rpm" -> "bash").
func sourceRPMName(srpm string) string {
	s := strings.TrimSuffix(srpm, ".rpm")
	s = strings.TrimSuffix(s, ".src")
	s = strings.TrimSuffix(s, ".nosrc")
	// Drop "-release" then "-version".
	for range 2 {
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return ""
		}
		s = s[:i]
	}
	return s
}
