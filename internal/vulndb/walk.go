package vulndb

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Walk reads the vulnerability files under each path and calls fn with a
// name (the file's path, or "archive.zip:entry") and its content. A path may
// be a JSON file, a directory (walked recursively, in lexical order, for
// *.json and *.zip files) or a zip archive of JSON files as osv.dev
// publishes them per ecosystem (all.zip). Files larger than MaxRecordSize
// are an error. fn's error stops the walk.
func Walk(ctx context.Context, paths []string, fn func(name string, raw []byte) error) error {
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("vulndb: %w", err)
		}
		if !st.IsDir() {
			if err := walkFile(ctx, p, fn); err != nil {
				return err
			}
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() && (hasExt(path, ".json") || hasExt(path, ".zip")) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("vulndb: %w", err)
		}
		sort.Strings(files)
		for _, f := range files {
			if err := walkFile(ctx, f, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func hasExt(p, ext string) bool { return strings.EqualFold(filepath.Ext(p), ext) }

func walkFile(ctx context.Context, path string, fn func(string, []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if hasExt(path, ".zip") {
		return walkZip(ctx, path, fn)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("vulndb: %w", err)
	}
	defer f.Close()
	raw, err := readLimited(f)
	if err != nil {
		return fmt.Errorf("vulndb: %s: %w", path, err)
	}
	return fn(path, raw)
}

func walkZip(ctx context.Context, path string, fn func(string, []byte) error) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("vulndb: %s: %w", path, err)
	}
	defer zr.Close()
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if zf.FileInfo().IsDir() || !hasExt(zf.Name, ".json") {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("vulndb: %s:%s: %w", path, zf.Name, err)
		}
		raw, err := readLimited(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("vulndb: %s:%s: %w", path, zf.Name, err)
		}
		if err := fn(path+":"+zf.Name, raw); err != nil {
			return err
		}
	}
	return nil
}

// readLimited reads at most MaxRecordSize bytes, failing beyond.
func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxRecordSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxRecordSize)
	}
	return b, nil
}
