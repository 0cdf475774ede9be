package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// Target is what an import writes to.
type Target interface {
	Content
	CreateRepository(ctx context.Context, nr store.NewRepository) (core.Repository, error)
}

// Importer reads an OCI image layout into Wharf.
type Importer struct {
	Meta  Target
	Blobs blob.Store
	// MaxBlobSize bounds one blob (0: no limit).
	MaxBlobSize int64
}

// ImportOptions say where the layout's content goes.
type ImportOptions struct {
	// Namespace, when set, replaces the namespace of every recorded name.
	Namespace string
	// Repository receives entries whose reference name is a bare tag (as
	// other tools write them); required only for such layouts.
	Repository string
}

// ImportReport is what an import did.
type ImportReport struct {
	Tags         int
	Manifests    int // manifests stored (already present ones are not counted)
	Blobs        int // blobs written (already present ones are not counted)
	Repositories []string
}

type importRun struct {
	im   *Importer
	dir  string
	w    *Writer
	rep  *ImportReport
	done map[string]bool
	seen map[string]bool
}

// Import reads the layout at src (a directory, or a tar archive of one)
// into Wharf: each index.json entry's manifest, with everything it
// references that the layout holds, under the repository its annotations
// name (created private when missing; its namespace must exist). Every
// blob and manifest read is verified against its digest. Importing the
// same layout again changes nothing.
func (im *Importer) Import(ctx context.Context, src string, opts ImportOptions) (ImportReport, error) {
	var rep ImportReport
	if opts.Namespace != "" {
		if err := oci.ValidateNamespace(opts.Namespace); err != nil {
			return rep, err
		}
	}
	if opts.Repository != "" {
		if err := oci.ValidateName(opts.Repository); err != nil {
			return rep, err
		}
	}
	dir := src
	st, err := os.Stat(src)
	if err != nil {
		return rep, fmt.Errorf("import: %w", err)
	}
	if !st.IsDir() {
		tmp, err := os.MkdirTemp("", "wharf-import-")
		if err != nil {
			return rep, fmt.Errorf("import: %w", err)
		}
		defer os.RemoveAll(tmp)
		f, err := os.Open(src)
		if err != nil {
			return rep, fmt.Errorf("import: %w", err)
		}
		err = extractTar(f, tmp)
		f.Close()
		if err != nil {
			return rep, err
		}
		dir = tmp
	}
	b, err := readBounded(filepath.Join(dir, "index.json"), maxIndexSize)
	if err != nil {
		return rep, fmt.Errorf("import: %w", err)
	}
	idx, err := decodeIndex(b)
	if err != nil {
		return rep, err
	}
	run := &importRun{im: im, dir: dir, rep: &rep, done: map[string]bool{}, seen: map[string]bool{},
		w: &Writer{Meta: im.Meta, Blobs: im.Blobs, MaxBlobSize: im.MaxBlobSize}}
	for _, d := range idx.Manifests {
		repo, tag, err := refRepository(d.Annotations)
		if err != nil {
			return rep, err
		}
		if repo == "" {
			if opts.Repository == "" {
				return rep, core.Errorf(core.CodeInvalid, "index.json entry %s names no repository: give one", d.Digest)
			}
			repo = opts.Repository
		}
		if opts.Namespace != "" {
			_, rest, _ := strings.Cut(repo, "/")
			repo = opts.Namespace + "/" + rest
		}
		if tag != "" {
			if err := oci.ValidateTag(tag); err != nil {
				return rep, err
			}
		}
		if err := run.repository(ctx, repo); err != nil {
			return rep, err
		}
		var tags []string
		if tag != "" {
			tags = []string{tag}
		}
		if err := run.manifest(ctx, repo, d, tags); err != nil {
			return rep, fmt.Errorf("%s: %w", repo, err)
		}
		if tag != "" {
			rep.Tags++
		}
	}
	return rep, nil
}

func readBounded(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, core.Errorf(core.CodeTooLarge, "%s is larger than %d bytes", filepath.Base(p), limit)
	}
	return b, nil
}

// repository creates a missing repository (private).
func (r *importRun) repository(ctx context.Context, repo string) error {
	if r.seen[repo] {
		return nil
	}
	_, err := r.im.Meta.Repository(ctx, repo)
	if core.IsCode(err, core.CodeNameUnknown) {
		_, err = r.im.Meta.CreateRepository(ctx, store.NewRepository{FullName: repo, Visibility: core.VisibilityPrivate})
		if core.IsCode(err, core.CodeNotFound) {
			ns, _, _ := strings.Cut(repo, "/")
			return core.Errorf(core.CodeNotFound, "namespace %s does not exist: create it first (or import with another namespace)", ns)
		}
		if core.IsCode(err, core.CodeConflict) {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	r.seen[repo] = true
	r.rep.Repositories = append(r.rep.Repositories, repo)
	return nil
}

func (r *importRun) blobFile(d digest.Digest) string {
	return filepath.Join(r.dir, "blobs", string(d.Algorithm()), d.Encoded())
}

func (r *importRun) inLayout(d digest.Digest) bool {
	if d.Validate() != nil {
		return false
	}
	_, err := os.Stat(r.blobFile(d))
	return err == nil
}

// manifest imports one manifest (and what it references) and points tags
// at it.
func (r *importRun) manifest(ctx context.Context, repo string, desc oci.Descriptor, tags []string) error {
	key := repo + "@" + string(desc.Digest)
	if r.done[key] && len(tags) == 0 {
		return nil
	}
	if err := desc.Digest.Validate(); err != nil {
		return core.Errorf(core.CodeDigestInvalid, "invalid digest %q", shorten(string(desc.Digest)))
	}
	raw, err := readBounded(r.blobFile(desc.Digest), oci.MaxManifestSize)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	pm, err := ParseManifest(raw, desc.MediaType, desc.Digest)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	if !r.done[key] {
		has, err := r.w.HasManifest(ctx, repo, desc.Digest)
		if err != nil {
			return err
		}
		if !has {
			if err := r.content(ctx, repo, pm); err != nil {
				return err
			}
			r.rep.Manifests++
		}
	}
	r.done[key] = true
	return r.w.PutManifest(ctx, repo, raw, pm, desc.Digest, tags)
}

// content imports what a manifest references: an index's children the
// layout holds (the others are left out, as in a sparse index), an image's
// blobs (all required).
func (r *importRun) content(ctx context.Context, repo string, pm *oci.Manifest) error {
	if pm.IsIndex() {
		for _, c := range pm.Manifests {
			if !r.inLayout(c.Digest) {
				continue
			}
			if err := r.manifest(ctx, repo, c, nil); err != nil {
				return err
			}
		}
		return nil
	}
	for _, b := range pm.RequiredBlobs() {
		d := b.Digest
		written, err := r.w.EnsureBlob(ctx, repo, d, b.Size, func(context.Context) (io.ReadCloser, error) {
			if d.Validate() != nil {
				return nil, core.Errorf(core.CodeDigestInvalid, "invalid digest %q", shorten(string(d)))
			}
			f, err := os.Open(r.blobFile(d))
			if errors.Is(err, os.ErrNotExist) {
				return nil, core.Errorf(core.CodeBlobUnknown, "the layout lacks blob %s", d)
			}
			return f, err
		})
		if err != nil {
			return fmt.Errorf("blob %s: %w", d, err)
		}
		if written {
			r.rep.Blobs++
		}
	}
	return nil
}
