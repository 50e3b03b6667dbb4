package vfsutil

import (
	"errors"
	"io"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestWriteFileCrash(t *testing.T) {
	fs := vfs.NewCrashableMem()
	if err := MkdirAll(fs, "/a/b"); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(fs, "/a/b/f", []byte("one")); err != nil {
		t.Fatal(err)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	f, err := crashed.Open("/a/b/f")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	if err != nil || string(b) != "one" {
		t.Fatalf("after crash: %q, %v", b, err)
	}
}

func TestWriteFromFailureLeavesOld(t *testing.T) {
	fs := vfs.NewMem()
	if err := WriteFile(fs, "/f", []byte("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteFrom(fs, "/f", func(w io.Writer) error {
		_, _ = w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	names, _ := fs.List("/")
	if len(names) != 1 {
		t.Fatalf("temporary left behind: %v", names)
	}
}
