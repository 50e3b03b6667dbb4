package localvol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/internal/vfsutil"
)

// Options configures New. The zero value (or nil) is the default.
type Options struct {
	// SkipTempSweep leaves leftover temporary files in place at New instead
	// of walking the whole tree to delete them. List ignores them either
	// way; a volume with millions of objects may prefer to sweep at a quiet
	// time with RemoveTemps.
	SkipTempSweep bool
}

// Volume is an hsm.Volume rooted at a directory of a vfs.FS.
type Volume struct {
	fs  vfs.FS
	dir string
	def deferred // PutDeferred writes not yet synced
	// osFS: the volume is on the operating system's file system, where
	// SyncDeferred may use syncfs(2).
	osFS bool
	// made holds the directories known to exist (made or seen by a put):
	// a put into one skips MkdirAll. Deletes leave directories, so an
	// entry stays true.
	made sync.Map
}

// mkdir makes a put's directory durably once per volume.
func (v *Volume) mkdir(dir string) error {
	if _, ok := v.made.Load(dir); ok {
		return nil
	}
	if err := vfsutil.MkdirAll(v.fs, dir); err != nil {
		return err
	}
	v.made.Store(dir, true)
	return nil
}

var _ hsm.Volume = (*Volume)(nil)

// New opens the volume in dir, creating dir durably if missing and, unless
// opts.SkipTempSweep, deleting temporary files a crash left behind. opts may
// be nil.
func New(fs vfs.FS, dir string, opts *Options) (*Volume, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	osFS := fs == vfs.Default
	fs = vfsutil.Private(fs)
	dir = filepath.Clean(dir)
	if err := vfsutil.MkdirAll(fs, dir); err != nil {
		return nil, fmt.Errorf("localvol: open %s: %w", dir, err)
	}
	v := &Volume{fs: fs, dir: dir, osFS: osFS}
	if !o.SkipTempSweep {
		if err := v.RemoveTemps(context.Background()); err != nil {
			return nil, fmt.Errorf("localvol: open %s: %w", dir, err)
		}
	}
	return v, nil
}

// Dir returns the volume's root directory.
func (v *Volume) Dir() string { return v.dir }

func (v *Volume) path(name string) string {
	return v.fs.PathJoin(v.dir, filepath.FromSlash(name))
}

// classify turns a file-system error into the hsm classes.
func classify(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %v", hsm.ErrNotFound, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %v", hsm.ErrPermission, err)
	}
	return err
}

// ctxReader stops a long copy when the caller gives up.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Put writes the object to a temporary file, fsyncs it and renames it over
// name, then fsyncs the directory.
func (v *Volume) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := hsm.CheckName(name); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	p := v.path(name)
	if err := v.mkdir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("put %s: %w", name, classify(err))
	}
	filled := false
	write := func() error {
		return vfsutil.WriteFrom(v.fs, p, func(w io.Writer) error {
			filled = true
			cr := &hsm.CountingReader{R: ctxReader{ctx, r}}
			if _, err := io.Copy(w, cr); err != nil {
				return err
			}
			return hsm.CheckSize(name, size, cr.N)
		})
	}
	err := write()
	if err != nil && !filled && errors.Is(err, fs.ErrNotExist) {
		// The directory went since it was made: make it again.
		v.made.Delete(filepath.Dir(p))
		if err = v.mkdir(filepath.Dir(p)); err == nil {
			err = write()
		}
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", name, classify(err))
	}
	return nil
}

// open opens name for reading and reports its size; a directory is not an
// object.
func (v *Volume) open(ctx context.Context, op, name string) (vfs.File, int64, error) {
	if err := hsm.CheckName(name); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", op, name, err)
	}
	f, err := v.fs.Open(v.path(name))
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", op, name, classify(err))
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("%s %s: %w", op, name, classify(err))
	}
	if fi.IsDir() {
		_ = f.Close()
		return nil, 0, fmt.Errorf("%s %s: %w", op, name, hsm.ErrNotFound)
	}
	return f, fi.Size(), nil
}

// Get opens the file. A concurrent Put renames a new file over the name; the
// open handle keeps reading the version it opened.
func (v *Volume) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	f, _, err := v.open(ctx, "get", name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

type sectionReadCloser struct {
	*io.SectionReader
	io.Closer
}

func (v *Volume) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	f, size, err := v.open(ctx, "get range", name)
	if err != nil {
		return nil, err
	}
	n, err := hsm.CheckRange(size, off, length)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("get range %s: %w", name, err)
	}
	return sectionReadCloser{io.NewSectionReader(f, off, n), f}, nil
}

func (v *Volume) Stat(ctx context.Context, name string) (hsm.ObjectInfo, error) {
	if err := hsm.CheckName(name); err != nil {
		return hsm.ObjectInfo{}, fmt.Errorf("stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return hsm.ObjectInfo{}, fmt.Errorf("stat %s: %w", name, err)
	}
	fi, err := v.fs.Stat(v.path(name))
	if err != nil {
		return hsm.ObjectInfo{}, fmt.Errorf("stat %s: %w", name, classify(err))
	}
	if fi.IsDir() {
		return hsm.ObjectInfo{}, fmt.Errorf("stat %s: %w", name, hsm.ErrNotFound)
	}
	return hsm.ObjectInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes the file and fsyncs its directory so the removal survives a
// crash (a blob that comes back after its references were dropped would be
// a leak, not a loss, but the backup's purge counts on it being gone).
func (v *Volume) Delete(ctx context.Context, name string) error {
	if err := hsm.CheckName(name); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	p := v.path(name)
	fi, err := v.fs.Stat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.IsDir()) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", name, classify(err))
	}
	if err := v.fs.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a concurrent Delete won
		}
		return fmt.Errorf("delete %s: %w", name, classify(err))
	}
	v.def.forget(p)
	if err := vfsutil.SyncDir(v.fs, filepath.Dir(p)); err != nil {
		return fmt.Errorf("delete %s: %w", name, classify(err))
	}
	return nil
}

// isTemp reports whether a directory entry is an unfinished write.
func isTemp(entry string) bool { return strings.HasSuffix(entry, vfsutil.TempSuffix) }
