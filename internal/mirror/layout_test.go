package mirror

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

// Export to a directory and to a tar, import each into another Wharf under
// another namespace: tags, digests, the sparse index and the signature
// come across; importing again adds nothing; a corrupted blob is refused.
func TestExportImport(t *testing.T) {
	a := newEnv(t)
	up := newUpstream(t)
	base := up.host + "/library/app"
	_, d1 := pushImage(t, base+":v1", 2)
	idx, children := pushIndex(t, base+":multi", []string{"amd64", "arm64"})
	sig := pushSignature(t, base, d1)
	a.configure(t, base, []string{"v1", "multi"}, nil)
	a.mustSync(t)
	ctx := t.Context()
	// Make the index sparse in A: drop one child.
	if err := a.db.DeleteManifest(ctx, a.repo, children["arm64"]); err != nil {
		t.Fatal(err)
	}

	ex := &Exporter{Meta: a.db, Blobs: a.blobs}
	for _, out := range []string{filepath.Join(t.TempDir(), "layout"), filepath.Join(t.TempDir(), "layout.tar")} {
		t.Run(filepath.Base(out), func(t *testing.T) {
			rep, err := ex.Export(ctx, []string{a.repo}, out)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Tags != 2 || rep.Manifests != 4 { // v1, its signature, the index, one child
				t.Fatalf("export report %+v", rep)
			}
			b := newEnv(t)
			if _, err := b.db.CreateOrganization(ctx, "offline", "", 0); err != nil {
				t.Fatal(err)
			}
			im := &Importer{Meta: b.db, Blobs: b.blobs}
			irep, err := im.Import(ctx, out, ImportOptions{Namespace: "offline"})
			if err != nil {
				t.Fatal(err)
			}
			if irep.Tags != 2 || irep.Manifests != 4 || len(irep.Repositories) != 1 || irep.Repositories[0] != "offline/mirrored" {
				t.Fatalf("import report %+v", irep)
			}
			b.repo = "offline/mirrored"
			tags := b.tags(t)
			if tags["v1"] != d1 || tags["multi"] != idx || len(tags) != 2 {
				t.Fatalf("imported tags %v", tags)
			}
			refs, err := b.db.Referrers(ctx, b.repo, d1, "")
			if err != nil || len(refs) != 1 || refs[0].Digest != sig {
				t.Fatalf("imported referrers %v, %v", refs, err)
			}
			if !b.hasManifest(t, children["amd64"]) || b.hasManifest(t, children["arm64"]) {
				t.Fatal("the sparse index's children did not come across as they were")
			}
			irep, err = im.Import(ctx, out, ImportOptions{Namespace: "offline"})
			if err != nil || irep.Manifests != 0 || irep.Blobs != 0 {
				t.Fatalf("second import: %+v, %v", irep, err)
			}
			if tags2 := b.tags(t); len(tags2) != 2 {
				t.Fatalf("second import changed tags: %v", tags2)
			}
			// Into a namespace that does not exist: refused.
			if _, err := im.Import(ctx, out, ImportOptions{Namespace: "nowhere"}); !core.IsCode(err, core.CodeNotFound) {
				t.Fatalf("import into a missing namespace: %v", err)
			}
		})
	}

	// A layout whose blob does not match its digest is refused.
	out := filepath.Join(t.TempDir(), "bad")
	if _, err := ex.Export(ctx, []string{a.repo + ":v1"}, out); err != nil {
		t.Fatal(err)
	}
	m, err := a.db.Manifest(ctx, a.repo, oci.Reference{Tag: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	pm, err := ParseManifest(m.Content, m.MediaType, m.Digest)
	if err != nil {
		t.Fatal(err)
	}
	layer := pm.Layers[0].Digest
	if err := os.WriteFile(filepath.Join(out, "blobs", "sha256", layer.Encoded()), bytes.Repeat([]byte("x"), int(pm.Layers[0].Size)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newEnv(t)
	if _, err := (&Importer{Meta: c.db, Blobs: c.blobs}).Import(ctx, out, ImportOptions{}); !core.IsCode(err, core.CodeDigestInvalid) {
		t.Fatalf("import of a corrupted layout: %v", err)
	}
	// Export refuses a non-empty directory and unknown repositories.
	if _, err := ex.Export(ctx, []string{a.repo}, out); err == nil {
		t.Fatal("export into a non-empty directory succeeded")
	}
	if _, err := ex.Export(ctx, []string{"acme/nothing"}, filepath.Join(t.TempDir(), "x")); !core.IsCode(err, core.CodeNameUnknown) {
		t.Fatalf("export of a missing repository: %v", err)
	}
}

func TestExtractTarRefusesEscapes(t *testing.T) {
	for _, name := range []string{"../evil", "blobs/sha256/../../x", "etc/passwd", "blobs/sha256/nothex"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte("x"))
		tw.Close()
		dir := t.TempDir()
		if err := extractTar(&buf, dir); err == nil {
			t.Errorf("extracted %q", name)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "blobs/sha256/x", Linkname: "/etc/passwd", Typeflag: tar.TypeSymlink})
	tw.Close()
	if err := extractTar(&buf, t.TempDir()); err == nil {
		t.Error("extracted a symlink")
	}
}

func TestParseRefName(t *testing.T) {
	for _, tc := range []struct {
		in, repo, tag string
		ok            bool
	}{
		{"acme/app:v1", "acme/app", "v1", true},
		{"acme/team/app:latest", "acme/team/app", "latest", true},
		{"acme/app", "acme/app", "", true},
		{"localhost:5000/acme/app", "", "", false},
		{"v1", "", "", false},
		{"acme/app:bad tag", "", "", false},
		{"", "", "", false},
	} {
		repo, tag, err := ParseRefName(tc.in)
		if (err == nil) != tc.ok || repo != tc.repo || tag != tc.tag {
			t.Errorf("ParseRefName(%q) = %q, %q, %v; want %q, %q ok=%v", tc.in, repo, tag, err, tc.repo, tc.tag, tc.ok)
		}
	}
}

func FuzzParseRefName(f *testing.F) {
	for _, s := range []string{"acme/app:v1", "a/b/c", "x", ":", "a/b:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		repo, tag, err := ParseRefName(s)
		if err != nil {
			return
		}
		if oci.ValidateName(repo) != nil || (tag != "" && oci.ValidateTag(tag) != nil) || !strings.HasPrefix(s, repo) {
			t.Fatalf("ParseRefName(%q) = %q, %q", s, repo, tag)
		}
	})
}

func FuzzDecodeIndex(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` +
		strings.Repeat("a", 64) + `","size":1,"annotations":{"org.opencontainers.image.ref.name":"a/b:c"}}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := decodeIndex(b)
		if err != nil {
			return
		}
		for _, m := range idx.Manifests {
			if digest.Digest(m.Digest).Validate() != nil {
				t.Fatalf("accepted digest %q", m.Digest)
			}
			_, _, _ = refRepository(m.Annotations)
		}
	})
}

func FuzzExtractTar(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "index.json", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("{}"))
	tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + strings.Repeat("0", 64), Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := extractTar(bytes.NewReader(b), dir); err != nil {
			return
		}
		// Whatever was accepted stays inside dir, as layout files.
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			return checkLayoutPath(filepath.ToSlash(rel))
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
