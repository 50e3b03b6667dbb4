package vfsutil

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TempSuffix marks files that are being written. A crash may leave them
// behind; RemoveTemps deletes them on open. Nothing else ends in this suffix.
const TempSuffix = ".tmp"

var tempSeq atomic.Uint64

// TempName returns a fresh temporary name beside path. The name is unique
// within this process, so concurrent writers of the same path do not clash.
func TempName(path string) string {
	return path + "." + strconv.FormatUint(tempSeq.Add(1), 36) + TempSuffix
}

// WriteFile writes data to path durably and atomically. The file is private
// (FileMode) whatever the umask.
func WriteFile(fs vfs.FS, path string, data []byte) error {
	return WriteFrom(fs, path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFrom is WriteFile for content produced by fill. If fill returns an
// error the temporary file is removed and path is left as it was.
func WriteFrom(fs vfs.FS, path string, fill func(io.Writer) error) (err error) {
	tmp := TempName(path)
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if err := chmodPrivate(f, tmp); err != nil {
		_ = fs.Remove(tmp)
		return err
	}
	defer func() {
		if err != nil {
			_ = fs.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err = fs.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return SyncDir(fs, filepath.Dir(path))
}

// SyncDir fsyncs a directory so that a create, rename or remove in it is
// durable.
func SyncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return d.Close()
}

// MkdirAll creates dir and any missing parents (DirMode), fsyncing each
// parent whose entries changed, so the new directory survives a crash.
func MkdirAll(fs vfs.FS, dir string) error {
	dir = filepath.Clean(dir)
	if _, err := fs.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(fs, parent); err != nil {
			return err
		}
	}
	if err := fs.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	if err := chmodDir(fs, dir); err != nil {
		return err
	}
	if parent != dir {
		return SyncDir(fs, parent)
	}
	return nil
}

// RemoveTemps deletes leftover temporary files directly inside dir.
func RemoveTemps(fs vfs.FS, dir string) error {
	names, err := fs.List(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	removed := false
	for _, n := range names {
		if strings.HasSuffix(n, TempSuffix) {
			if err := fs.Remove(fs.PathJoin(dir, n)); err != nil {
				return fmt.Errorf("remove %s: %w", n, err)
			}
			removed = true
		}
	}
	if removed {
		return SyncDir(fs, dir)
	}
	return nil
}
