package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

// Source is what an export reads from the store.
type Source interface {
	Repository(ctx context.Context, name string) (core.Repository, error)
	Manifest(ctx context.Context, repo string, ref oci.Reference) (core.Manifest, error)
	CurrentTags(ctx context.Context, repo string) (map[string]digest.Digest, error)
	Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]core.Descriptor, error)
}

// ExportReport is what an export wrote.
type ExportReport struct {
	Tags      int
	Manifests int
	Blobs     int
	Bytes     int64
}

// Exporter writes repositories to an OCI image layout. It only reads.
type Exporter struct {
	Meta  Source
	Blobs blob.Store
}

// ParseExportRef splits an export argument "namespace/repo[:tag]".
func ParseExportRef(s string) (repo, tag string, err error) {
	return ParseRefName(s)
}

type exportRun struct {
	e     *Exporter
	sink  sink
	rep   *ExportReport
	index []oci.Descriptor
	done  map[string]bool // repo@digest exported
}

// Export writes the tags of refs ("namespace/repo:tag", or
// "namespace/repo" for all its current tags) with everything they reference
// and their referrers to an OCI image layout at output: a directory (new or
// empty), or a tar archive when output ends in .tar.
func (e *Exporter) Export(ctx context.Context, refs []string, output string) (ExportReport, error) {
	var rep ExportReport
	if len(refs) == 0 {
		return rep, core.Errorf(core.CodeInvalid, "nothing to export: name at least one namespace/repo[:tag]")
	}
	type item struct{ repo, tag string }
	var items []item
	for _, r := range refs {
		repo, tag, err := ParseExportRef(r)
		if err != nil {
			return rep, err
		}
		if _, err := e.Meta.Repository(ctx, repo); err != nil {
			return rep, err
		}
		if tag != "" {
			items = append(items, item{repo, tag})
			continue
		}
		tags, err := e.Meta.CurrentTags(ctx, repo)
		if err != nil {
			return rep, err
		}
		names := make([]string, 0, len(tags))
		for n := range tags {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			items = append(items, item{repo, n})
		}
	}
	s, err := newSink(output)
	if err != nil {
		return rep, err
	}
	run := &exportRun{e: e, sink: s, rep: &rep, done: map[string]bool{}}
	fail := func(err error) (ExportReport, error) {
		s.abort()
		return rep, err
	}
	for _, it := range items {
		m, err := e.Meta.Manifest(ctx, it.repo, oci.Reference{Tag: it.tag})
		if err != nil {
			return fail(fmt.Errorf("%s:%s: %w", it.repo, it.tag, err))
		}
		if err := run.manifest(ctx, it.repo, m, 0); err != nil {
			return fail(fmt.Errorf("%s:%s: %w", it.repo, it.tag, err))
		}
		run.index = append(run.index, oci.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Content)),
			Annotations: map[string]string{AnnotationRefName: it.repo + ":" + it.tag, AnnotationRepository: it.repo}})
		rep.Tags++
	}
	b, err := json.MarshalIndent(layoutIndex{SchemaVersion: 2, MediaType: oci.MediaTypeOCIIndex, Manifests: run.index}, "", "  ")
	if err != nil {
		return fail(err)
	}
	if err := s.finish(b); err != nil {
		return fail(fmt.Errorf("export: %w", err))
	}
	return rep, nil
}

// manifest writes a manifest, what it references (the children an index
// holds here; a sparse index's missing ones are skipped) and its referrers.
func (r *exportRun) manifest(ctx context.Context, repo string, m core.Manifest, depth int) error {
	key := repo + "@" + string(m.Digest)
	if r.done[key] {
		return nil
	}
	r.done[key] = true
	pm, err := ParseManifest(m.Content, m.MediaType, m.Digest)
	if err != nil {
		return err
	}
	if pm.IsIndex() {
		for _, c := range pm.Manifests {
			cm, err := r.e.Meta.Manifest(ctx, repo, oci.Reference{Digest: c.Digest})
			if core.IsCode(err, core.CodeManifestUnknown) {
				continue
			}
			if err != nil {
				return err
			}
			if err := r.manifest(ctx, repo, cm, depth+1); err != nil {
				return err
			}
		}
	} else {
		for _, b := range pm.RequiredBlobs() {
			if err := r.blob(ctx, b.Digest); err != nil {
				return err
			}
		}
	}
	if !r.sink.has(m.Digest) {
		if err := r.sink.put(m.Digest, int64(len(m.Content)), bytes.NewReader(m.Content)); err != nil {
			return err
		}
		r.rep.Manifests++
	}
	if depth >= maxReferrerDepth {
		return nil
	}
	refs, err := r.e.Meta.Referrers(ctx, repo, m.Digest, "")
	if err != nil {
		return err
	}
	for _, ref := range refs {
		rm, err := r.e.Meta.Manifest(ctx, repo, oci.Reference{Digest: ref.Digest})
		if core.IsCode(err, core.CodeManifestUnknown) {
			continue
		}
		if err != nil {
			return err
		}
		if r.done[repo+"@"+string(rm.Digest)] {
			continue
		}
		if err := r.manifest(ctx, repo, rm, depth+1); err != nil {
			return err
		}
		r.index = append(r.index, oci.Descriptor{MediaType: rm.MediaType, Digest: rm.Digest, Size: int64(len(rm.Content)),
			ArtifactType: ref.ArtifactType, Annotations: map[string]string{AnnotationRepository: repo}})
	}
	return nil
}

func (r *exportRun) blob(ctx context.Context, d digest.Digest) error {
	if r.sink.has(d) {
		return nil
	}
	rc, info, err := r.e.Blobs.Open(ctx, d)
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	defer rc.Close()
	if err := r.sink.put(d, info.Size, rc); err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	r.rep.Blobs++
	r.rep.Bytes += info.Size
	return nil
}

// refRepository is the repository an index.json entry belongs to.
func refRepository(d map[string]string) (repo, tag string, err error) {
	if n := d[AnnotationRefName]; n != "" && strings.Contains(n, "/") {
		return ParseRefName(n)
	}
	if n := d[AnnotationRepository]; n != "" {
		repo, _, err := ParseRefName(n)
		return repo, d[AnnotationRefName], err
	}
	return "", d[AnnotationRefName], nil
}
