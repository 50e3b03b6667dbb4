package localvol_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/hsm/volumetest"
)

func TestConformanceDisk(t *testing.T) {
	volumetest.Run(t, func(t *testing.T) hsm.Volume {
		v, err := localvol.New(vfs.Default, t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
}

func TestConformanceMem(t *testing.T) {
	volumetest.Run(t, func(t *testing.T) hsm.Volume {
		v, err := localvol.New(vfs.NewMem(), "/vol", nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
}

func listAll(t *testing.T, v hsm.Volume) []string {
	t.Helper()
	var names []string
	if err := v.List(context.Background(), "", func(oi hsm.ObjectInfo) error {
		names = append(names, oi.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

// TestCrash puts objects, crashes the file system losing everything not
// synced, and checks that every acknowledged object is whole afterwards.
func TestCrash(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewCrashableMem()
	v, err := localvol.New(fs, "/data/volumes/primary", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i < 20; i++ {
		name := "blobs/" + string(rune('a'+i%3)) + "0/" + strings.Repeat(string(rune('a'+i)), 8)
		body := strings.Repeat("mail body line\n", i+1)
		if err := hsm.PutBytes(ctx, v, name, []byte(body)); err != nil {
			t.Fatal(err)
		}
		want[name] = body
	}
	if err := v.Delete(ctx, "blobs/a0/aaaaaaaa"); err != nil {
		t.Fatal(err)
	}
	delete(want, "blobs/a0/aaaaaaaa")

	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	v2, err := localvol.New(crashed, "/data/volumes/primary", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := listAll(t, v2)
	if len(got) != len(want) {
		t.Fatalf("after crash: %d objects, want %d: %q", len(got), len(want), got)
	}
	for name, body := range want {
		b, err := hsm.ReadAll(ctx, v2, name)
		if err != nil || string(b) != body {
			t.Fatalf("after crash %s: %q, %v", name, b, err)
		}
	}
}

// TestTempFilesIgnoredAndSwept plants the leftovers of interrupted writes.
func TestTempFilesIgnoredAndSwept(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	v, err := localvol.New(fs, "/vol", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := hsm.PutBytes(ctx, v, "blobs/ab/ab01", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/vol/blobs/ab/ab02.7.tmp", "/vol/top.3.tmp"} {
		f, err := fs.Create(p, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(f, "half")
		f.Close()
	}
	if got := listAll(t, v); !slices.Equal(got, []string{"blobs/ab/ab01"}) {
		t.Fatalf("list shows temporary files: %q", got)
	}
	if _, err := localvol.New(fs, "/vol", nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/vol/blobs/ab/ab02.7.tmp", "/vol/top.3.tmp"} {
		if _, err := fs.Stat(p); err == nil {
			t.Fatalf("%s survived New", p)
		}
	}
	if _, err := fs.Stat("/vol/blobs/ab/ab01"); err != nil {
		t.Fatalf("object removed by the sweep: %v", err)
	}
}

// TestPrefixUnderFile lists below a name that is an object, not a directory.
func TestPrefixUnderFile(t *testing.T) {
	v, err := localvol.New(vfs.NewMem(), "/vol", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := hsm.PutBytes(context.Background(), v, "top", []byte("x")); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = v.List(context.Background(), "top/x", func(hsm.ObjectInfo) error { n++; return nil })
	if err != nil || n != 0 {
		t.Fatalf("list under a file: n=%d err=%v", n, err)
	}
}

// TestPutAfterDirectoryRemoved: a put into a directory removed from
// outside since an earlier put made it makes it again.
func TestPutAfterDirectoryRemoved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	v, err := localvol.New(vfs.Default, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, deferred := range []bool{false, true} {
		if err := hsm.PutBytes(ctx, v, "blobs/ab/one", []byte("one")); err != nil {
			t.Fatal(err)
		}
		if err := vfs.Default.RemoveAll(dir + "/blobs"); err != nil {
			t.Fatal(err)
		}
		if deferred {
			err = v.PutDeferred(ctx, "blobs/ab/two", strings.NewReader("two"), 3)
			if err == nil {
				err = v.SyncDeferred(ctx)
			}
		} else {
			err = hsm.PutBytes(ctx, v, "blobs/ab/two", []byte("two"))
		}
		if err != nil {
			t.Fatalf("put (deferred %v) after the directory was removed: %v", deferred, err)
		}
		if b, err := hsm.ReadAll(ctx, v, "blobs/ab/two"); err != nil || string(b) != "two" {
			t.Fatalf("read back: %q %v", b, err)
		}
	}
}
