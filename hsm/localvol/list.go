package localvol

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/internal/vfsutil"
)

// entry is one directory entry during a walk. key is the relative name, with
// a trailing slash for directories: sorting by key gives the byte-wise order
// of the object names below, because every name in directory "a" starts
// with "a/" ("a-c" < "a/b" < "a0").
type entry struct {
	key  string
	dir  bool
	info hsm.ObjectInfo
}

// readDir returns the entries of the relative directory rel ("" is the root)
// sorted by key, leaving out temporary files.
func (v *Volume) readDir(rel string) ([]entry, error) {
	abs := v.dir
	if rel != "" {
		abs = v.path(rel)
	}
	names, err := v.fs.List(abs)
	if err != nil {
		return nil, err
	}
	out := make([]entry, 0, len(names))
	for _, n := range names {
		if isTemp(n) {
			continue
		}
		name := n
		if rel != "" {
			name = rel + "/" + n
		}
		fi, err := v.fs.Stat(v.fs.PathJoin(abs, n))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since List
		}
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			out = append(out, entry{key: name + "/", dir: true})
			continue
		}
		out = append(out, entry{key: name, info: hsm.ObjectInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

// List walks the directories under prefix depth first in key order, so
// objects come out in lexical order without sorting the whole volume.
func (v *Volume) List(ctx context.Context, prefix string, fn func(hsm.ObjectInfo) error) error {
	if err := hsm.CheckPrefix(prefix); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	// Start at the deepest directory the prefix names in full.
	start := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
	}
	return v.walk(ctx, start, prefix, fn)
}

// notADir reports whether the relative directory rel is missing or a file.
func (v *Volume) notADir(rel string) bool {
	abs := v.dir
	if rel != "" {
		abs = v.path(rel)
	}
	fi, err := v.fs.Stat(abs)
	return errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.IsDir())
}

// walkError carries an error from the caller's fn through the walk unchanged.
type walkError struct{ err error }

func (e *walkError) Error() string { return e.err.Error() }

func (v *Volume) walk(ctx context.Context, rel, prefix string, fn func(hsm.ObjectInfo) error) error {
	err := v.walkDir(ctx, rel, prefix, fn)
	var we *walkError
	if errors.As(err, &we) {
		return we.err
	}
	return err
}

func (v *Volume) walkDir(ctx context.Context, rel, prefix string, fn func(hsm.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	entries, err := v.readDir(rel)
	if err != nil {
		if v.notADir(rel) {
			return nil // nothing there (or a file where the prefix wants a directory)
		}
		return fmt.Errorf("list %s: %w", prefix, classify(err))
	}
	for _, e := range entries {
		if e.dir {
			// Descend if the directory can hold matching names.
			if strings.HasPrefix(e.key, prefix) || strings.HasPrefix(prefix, e.key) {
				if err := v.walkDir(ctx, strings.TrimSuffix(e.key, "/"), prefix, fn); err != nil {
					return err
				}
			}
			continue
		}
		if strings.HasPrefix(e.key, prefix) {
			if err := fn(e.info); err != nil {
				return &walkError{err}
			}
		}
	}
	return nil
}

// RemoveTemps deletes the temporary files that interrupted writes left
// anywhere under the volume. New calls it unless Options.SkipTempSweep.
func (v *Volume) RemoveTemps(ctx context.Context) error {
	return v.sweep(ctx, v.dir)
}

func (v *Volume) sweep(ctx context.Context, abs string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := vfsutil.RemoveTemps(v.fs, abs); err != nil {
		return err
	}
	names, err := v.fs.List(abs)
	if err != nil {
		return fmt.Errorf("list %s: %w", abs, err)
	}
	for _, n := range names {
		p := v.fs.PathJoin(abs, n)
		fi, err := v.fs.Stat(p)
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if fi.IsDir() {
			if err := v.sweep(ctx, p); err != nil {
				return err
			}
		}
	}
	return nil
}
