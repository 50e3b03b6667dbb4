//go:build unix

package vfsutil

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestPrivateModes creates files and directories every way a vfs.FS can
// under umask 022 and requires 0600 files and 0700 directories.
func TestPrivateModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	fs := Private(vfs.Default)
	if Private(fs) != fs {
		t.Fatal("wrapping twice is not the same as wrapping once")
	}
	root := filepath.Join(t.TempDir(), "a")
	if err := MkdirAll(fs, filepath.Join(root, "b", "c")); err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create(filepath.Join(root, "created"), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	f, err = fs.OpenReadWrite(filepath.Join(root, "rw"), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	f, err = fs.ReuseForWrite(filepath.Join(root, "rw"), filepath.Join(root, "reused"), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	l, err := fs.Lock(filepath.Join(root, "LOCK"))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	// WriteFile is private whatever file system it is given.
	if err := WriteFile(vfs.Default, filepath.Join(root, "atomic"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{
		"": 0o700, "b": 0o700, "b/c": 0o700,
		"created": 0o600, "reused": 0o600, "LOCK": 0o600, "atomic": 0o600,
	}
	for name, mode := range want {
		info, err := os.Stat(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != mode {
			t.Errorf("%q is %v, want %v", name, info.Mode().Perm(), mode)
		}
	}
	// A file system without descriptors is left alone.
	mem := Private(vfs.NewMem())
	if err := MkdirAll(mem, "/x/y"); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(mem, "/x/y/z", []byte("z")); err != nil {
		t.Fatal(err)
	}
}

// TestMkdirUnderNarrowUmask: a umask that strips the owner's x bit (set
// by the administrator's shell, or briefly by another part of the
// process) still gives 0700 directories, whoever makes them.
func TestMkdirUnderNarrowUmask(t *testing.T) {
	old := syscall.Umask(0o177)
	defer syscall.Umask(old)
	root := t.TempDir()
	nested := filepath.Join(root, "a", "b")
	if err := MkdirAll(vfs.Default, nested); err != nil {
		t.Fatal(err)
	}
	byPebble := filepath.Join(root, "c")
	if err := Private(vfs.Default).MkdirAll(byPebble, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(root, "a"), nested, byPebble} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != DirMode {
			t.Errorf("%s is %v, want %v", d, fi.Mode().Perm(), DirMode)
		}
	}
}
