package localvol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/internal/vfsutil"
)

var _ hsm.DeferredSyncer = (*Volume)(nil)

// syncWorkers is how many fsyncs SyncDeferred keeps in flight. File systems
// with a journal (ext4, xfs) fold concurrent fsyncs into one journal commit,
// so a few dozen in parallel cost little more than one: on a disk that does
// ~1,200 serial fsyncs/s, 16 workers reach ~10,000 files/s.
const syncWorkers = 16

// syncFSMin is how many pending files make SyncDeferred on the operating
// system's file system sync it whole (syncfs) instead of file by file.
const syncFSMin = 32

// deferred is the set of writes PutDeferred made that no SyncDeferred has
// covered yet: files to fsync and directories whose entries (the renames)
// to fsync, each once however many puts touched it.
type deferred struct {
	mu    sync.Mutex
	files map[string]struct{}
	dirs  map[string]struct{}

	syncMu sync.Mutex // serialises SyncDeferred
}

func (d *deferred) add(file, dir string) {
	d.mu.Lock()
	if d.files == nil {
		d.files, d.dirs = map[string]struct{}{}, map[string]struct{}{}
	}
	d.files[file] = struct{}{}
	d.dirs[dir] = struct{}{}
	d.mu.Unlock()
}

// forget drops a file from the pending set (it was deleted). Its directory
// stays: syncing it is harmless.
func (d *deferred) forget(file string) {
	d.mu.Lock()
	delete(d.files, file)
	d.mu.Unlock()
}

// take empties the pending set and returns it.
func (d *deferred) take() (files, dirs []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for f := range d.files {
		files = append(files, f)
	}
	for dir := range d.dirs {
		dirs = append(dirs, dir)
	}
	d.files, d.dirs = nil, nil
	return files, dirs
}

// putBack returns files and directories to the pending set after a failed
// sync, so the next SyncDeferred retries them.
func (d *deferred) putBack(files, dirs []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.files == nil {
		d.files, d.dirs = map[string]struct{}{}, map[string]struct{}{}
	}
	for _, f := range files {
		d.files[f] = struct{}{}
	}
	for _, dir := range dirs {
		d.dirs[dir] = struct{}{}
	}
}

// Pending reports how many objects PutDeferred stored that are not yet
// durable.
func (v *Volume) Pending() int {
	v.def.mu.Lock()
	defer v.def.mu.Unlock()
	return len(v.def.files)
}

// PutDeferred writes the object to a temporary file and renames it over
// name, without fsyncing either: the object is visible at once and becomes
// durable at the next SyncDeferred. New directories on the way are still
// created durably (once each), so SyncDeferred only has the leaf
// directories' renames to make durable.
func (v *Volume) PutDeferred(ctx context.Context, name string, r io.Reader, size int64) (err error) {
	if err := hsm.CheckName(name); err != nil {
		return fmt.Errorf("put deferred: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put deferred %s: %w", name, err)
	}
	p := v.path(name)
	dir := filepath.Dir(p)
	if err := v.mkdir(dir); err != nil {
		return fmt.Errorf("put deferred %s: %w", name, classify(err))
	}
	tmp := vfsutil.TempName(p)
	f, err := v.fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if errors.Is(err, fs.ErrNotExist) {
		// The directory went since it was made: make it again.
		v.made.Delete(dir)
		if err = v.mkdir(dir); err == nil {
			f, err = v.fs.Create(tmp, vfs.WriteCategoryUnspecified)
		}
	}
	if err != nil {
		return fmt.Errorf("put deferred %s: %w", name, classify(err))
	}
	defer func() {
		if err != nil {
			_ = v.fs.Remove(tmp)
		}
	}()
	cr := &hsm.CountingReader{R: ctxReader{ctx, r}}
	if _, err = io.Copy(f, cr); err == nil {
		err = hsm.CheckSize(name, size, cr.N)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("put deferred %s: %w", name, classify(err))
	}
	if err = v.fs.Rename(tmp, p); err != nil {
		return fmt.Errorf("put deferred %s: %w", name, classify(err))
	}
	v.def.add(p, dir)
	return nil
}

// SyncDeferred fsyncs every file PutDeferred wrote since the last sync, then
// every directory those files were renamed into, each once, with
// syncWorkers in parallel. A file deleted meanwhile is skipped.
func (v *Volume) SyncDeferred(ctx context.Context) error {
	v.def.syncMu.Lock()
	defer v.def.syncMu.Unlock()
	files, dirs := v.def.take()
	if len(files) == 0 && len(dirs) == 0 {
		return nil
	}
	if v.osFS && len(files) >= syncFSMin {
		// Many files: one syncfs(2) of the volume's file system costs
		// less than an fsync of each file and directory.
		done, err := syncFS(v.dir)
		if err != nil {
			v.def.putBack(files, dirs)
			return fmt.Errorf("sync deferred: syncfs %s: %w", v.dir, classify(err))
		}
		if done {
			return nil
		}
	}
	err := parallel(ctx, files, v.syncFile)
	if err == nil {
		// Directories after files: a name must not become durable before
		// the bytes it points at.
		err = parallel(ctx, dirs, func(dir string) error { return vfsutil.SyncDir(v.fs, dir) })
	}
	if err != nil {
		v.def.putBack(files, dirs)
		return fmt.Errorf("sync deferred: %w", classify(err))
	}
	return nil
}

func (v *Volume) syncFile(p string) error {
	f, err := v.fs.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted since: nothing to make durable
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", p, err)
	}
	return f.Close()
}

// parallel runs fn over items with syncWorkers goroutines and returns the
// first error.
func parallel(ctx context.Context, items []string, fn func(string) error) error {
	if len(items) == 0 {
		return nil
	}
	work := make(chan string)
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	for range min(syncWorkers, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				if err := fn(it); err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
				}
			}
		}()
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		work <- it
	}
	close(work)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
