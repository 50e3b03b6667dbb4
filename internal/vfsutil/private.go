package vfsutil

import (
	"fmt"
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Private file modes: everything tidemark writes holds mail, password
// hashes or keys, so no other local user may read it, whatever the umask.
const (
	DirMode  os.FileMode = 0o700
	FileMode os.FileMode = 0o600
)

// privateFS makes every file it creates 0600 and every directory 0700. Create
// on the OS file system uses 0666 masked by the umask, so the mode is set on
// the open descriptor right after creation (fchmod), before any byte is
// written. Files without a descriptor (in-memory, crash harness) are left as
// they are.
type privateFS struct {
	vfs.FS
}

// Private wraps fs so that files it creates are private (FileMode) and
// directories are DirMode, whoever creates them: tidemark's own code or
// Pebble. Wrapping twice is the same as wrapping once.
func Private(fs vfs.FS) vfs.FS {
	if _, ok := fs.(privateFS); ok {
		return fs
	}
	return privateFS{fs}
}

func (p privateFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := p.FS.Create(name, category)
	if err != nil {
		return f, err
	}
	return f, chmodPrivate(f, name)
}

func (p privateFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := p.FS.OpenReadWrite(name, category, opts...)
	if err != nil {
		return f, err
	}
	return f, chmodPrivate(f, name)
}

func (p privateFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := p.FS.ReuseForWrite(oldname, newname, category)
	if err != nil {
		return f, err
	}
	return f, chmodPrivate(f, newname)
}

func (p privateFS) MkdirAll(dir string, _ os.FileMode) error {
	if _, err := p.FS.Stat(dir); err == nil {
		return nil
	}
	if err := p.FS.MkdirAll(dir, DirMode); err != nil {
		return err
	}
	return chmodDir(p.FS, dir)
}

// chmodDir sets DirMode on a directory just made on the OS file system:
// mkdir applies the process umask, which another part of the process (or
// the administrator's shell) may have narrowed so far that the directory
// loses its x bits.
func chmodDir(fs vfs.FS, dir string) error {
	if !isOS(fs) {
		return nil
	}
	if err := os.Chmod(dir, DirMode); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	return nil
}

// Lock creates the lock file through the OS (flock), so its mode is set by
// name afterwards when the wrapped file system is the OS one.
func (p privateFS) Lock(name string) (io.Closer, error) {
	c, err := p.FS.Lock(name)
	if err != nil || !isOS(p.FS) {
		return c, err
	}
	if err := os.Chmod(name, FileMode); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("chmod %s: %w", name, err)
	}
	return c, nil
}

// isOS reports whether fs is, or wraps, the OS file system.
func isOS(fs vfs.FS) bool {
	for {
		if fs == vfs.Default {
			return true
		}
		u, ok := fs.(interface{ Unwrap() vfs.FS })
		if !ok {
			return false
		}
		fs = u.Unwrap()
	}
}

// Unwrap returns the wrapped file system.
func (p privateFS) Unwrap() vfs.FS { return p.FS }
