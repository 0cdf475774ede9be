package scanner

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/inventory"
	"github.com/google/osv-scalibr/plugin"
	"github.com/google/osv-scalibr/purl"
)

// javaArchives reads Maven coordinates from Java archives: every
// META-INF/maven/<group>/<artifact>/pom.properties, in the archive and in
// the archives nested in it (Spring Boot's BOOT-INF/lib, WEB-INF/lib, ...).
// It stands in for osv-scalibr's archive extractor, which links a deps.dev
// gRPC client (about 11 MB) to guess coordinates from file names and hashes
// over the network; archives without pom.properties are not identified.
type javaArchives struct{}

const (
	javaExtractorName = "wharf/java-archive"
	// Limits for untrusted archives.
	maxNestedDepth   = 3
	maxNestedArchive = 64 << 20 // one nested archive read into memory
	maxPomProperties = 64 << 10
	maxJavaPackages  = 10_000
)

var javaArchiveExts = []string{".jar", ".war", ".ear", ".jmod", ".par", ".sar", ".jpi", ".hpi", ".lpkg", ".nar"}

func (javaArchives) Name() string                       { return javaExtractorName }
func (javaArchives) Version() int                       { return 0 }
func (javaArchives) Requirements() *plugin.Capabilities { return &plugin.Capabilities{} }

func isJavaArchive(p string) bool {
	ext := strings.ToLower(path.Ext(p))
	for _, e := range javaArchiveExts {
		if ext == e {
			return true
		}
	}
	return false
}

func (javaArchives) FileRequired(api filesystem.FileAPI) bool { return isJavaArchive(api.Path()) }

func (javaArchives) Extract(ctx context.Context, in *filesystem.ScanInput) (inventory.Inventory, error) {
	ra, ok := in.Reader.(io.ReaderAt)
	if !ok || in.Info == nil {
		return inventory.Inventory{}, fmt.Errorf("java archive %s: no random access", in.Path)
	}
	coords, err := javaCoordinates(ctx, ra, in.Info.Size(), 0)
	if err != nil {
		return inventory.Inventory{}, fmt.Errorf("java archive %s: %w", in.Path, err)
	}
	var inv inventory.Inventory
	for _, c := range coords {
		inv.Packages = append(inv.Packages, &extractor.Package{Name: c.group + ":" + c.artifact, Version: c.version,
			PURLType: purl.TypeMaven, Location: extractor.LocationFromPath(in.Path)})
	}
	return inv, nil
}

type mavenCoord struct{ group, artifact, version string }

// javaCoordinates lists the Maven coordinates in a zip archive and, up to
// maxNestedDepth, in the archives it contains, each once.
func javaCoordinates(ctx context.Context, r io.ReaderAt, size int64, depth int) ([]mavenCoord, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, err
	}
	var out []mavenCoord
	seen := map[mavenCoord]bool{}
	add := func(c mavenCoord) {
		if !seen[c] && len(out) < maxJavaPackages {
			seen[c] = true
			out = append(out, c)
		}
	}
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := f.Name
		switch {
		case strings.HasPrefix(name, "META-INF/maven/") && strings.HasSuffix(name, "/pom.properties"):
			b, err := readZipEntry(f, maxPomProperties)
			if err != nil {
				continue
			}
			if c, ok := parsePomProperties(b); ok {
				add(c)
			}
		case isJavaArchive(name) && depth < maxNestedDepth && f.UncompressedSize64 <= maxNestedArchive:
			b, err := readZipEntry(f, maxNestedArchive)
			if err != nil {
				continue
			}
			nested, err := javaCoordinates(ctx, bytes.NewReader(b), int64(len(b)), depth+1)
			if err != nil {
				continue
			}
			for _, c := range nested {
				add(c)
			}
		}
	}
	return out, nil
}

func readZipEntry(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s larger than %d bytes", f.Name, limit)
	}
	return b, nil
}

// parsePomProperties reads groupId, artifactId and version from a Java
// properties file (key=value or key: value lines, # and ! comments). All
// three are required.
func parsePomProperties(b []byte) (mavenCoord, bool) {
	var c mavenCoord
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxPomProperties)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			continue
		}
		k, v := strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:])
		switch k {
		case "groupId":
			c.group = v
		case "artifactId":
			c.artifact = v
		case "version":
			c.version = v
		}
	}
	valid := func(s string) bool { return s != "" && len(s) <= 256 && !strings.ContainsAny(s, " \t\r\n:") }
	return c, valid(c.group) && valid(c.artifact) && valid(c.version)
}
