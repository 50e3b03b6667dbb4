package packvol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/volumetest"
)

func newVol(t *testing.T, fs vfs.FS, dir string, o *Options) *Volume {
	t.Helper()
	v, err := New(fs, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

func TestConformanceDisk(t *testing.T) {
	volumetest.Run(t, func(t *testing.T) hsm.Volume { return newVol(t, vfs.Default, t.TempDir(), nil) })
}

func TestConformanceMem(t *testing.T) {
	volumetest.Run(t, func(t *testing.T) hsm.Volume { return newVol(t, vfs.NewMem(), "/vol", nil) })
}

// TestConformanceSmallPacks runs the suite with tiny packs and a low large
// threshold, so rolling and the two tiers are exercised by every subtest.
func TestConformanceSmallPacks(t *testing.T) {
	volumetest.Run(t, func(t *testing.T) hsm.Volume {
		return newVol(t, vfs.NewMem(), "/vol", &Options{SmallMax: 4000, PackSize: 16 << 10})
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

func mustPut(t *testing.T, v *Volume, name string, b []byte) {
	t.Helper()
	if err := hsm.PutBytes(context.Background(), v, name, b); err != nil {
		t.Fatal(err)
	}
}

func expect(t *testing.T, v hsm.Volume, name string, want []byte) {
	t.Helper()
	got, err := hsm.ReadAll(context.Background(), v, name)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, %v; want %d bytes", name, len(got), err, len(want))
	}
}

// TestTiers replaces objects across the small/large threshold both ways,
// durably and deferred, and checks reads, listing and a reopen.
func TestTiers(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	o := &Options{SmallMax: 100}
	v := newVol(t, fs, "/vol", o)
	small, big := []byte("small"), bytes.Repeat([]byte("L"), 500)
	mustPut(t, v, "a/x", small)
	mustPut(t, v, "a/x", big)
	expect(t, v, "a/x", big)
	mustPut(t, v, "a/x", small)
	expect(t, v, "a/x", small)
	if err := v.PutDeferred(ctx, "a/y", bytes.NewReader(big), -1); err != nil {
		t.Fatal(err)
	}
	if err := v.PutDeferred(ctx, "a/y", bytes.NewReader(small), 5); err != nil {
		t.Fatal(err)
	}
	mustPut(t, v, "a/z", big)
	mustPut(t, v, "a/w", small)
	if got := listAll(t, v); !slices.Equal(got, []string{"a/w", "a/x", "a/y", "a/z"}) {
		t.Fatalf("list: %q", got)
	}
	if st := v.Stats(); st.Large != 1 || st.Objects != 3 {
		t.Fatalf("stats %+v, want 1 large and 3 packed", st)
	}
	if err := v.SyncDeferred(ctx); err != nil {
		t.Fatal(err)
	}
	v.Close()
	v2 := newVol(t, fs, "/vol", o)
	expect(t, v2, "a/x", small)
	expect(t, v2, "a/y", small)
	expect(t, v2, "a/z", big)
	if err := v2.Delete(ctx, "a/z"); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, v2); !slices.Equal(got, []string{"a/w", "a/x", "a/y"}) {
		t.Fatalf("list after delete: %q", got)
	}
}

// TestShadowedLargeRemoved plants the leftover of an interrupted
// replacement (a large file beside a packed entry of the same name): the
// packed one wins and New removes the file.
func TestShadowedLargeRemoved(t *testing.T) {
	fs := vfs.NewMem()
	v := newVol(t, fs, "/vol", &Options{SmallMax: 100})
	mustPut(t, v, "n", []byte("packed"))
	v.Close()
	if err := fs.MkdirAll("/vol/large", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create("/vol/large/n", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write(bytes.Repeat([]byte("L"), 300))
	f.Close()
	v2 := newVol(t, fs, "/vol", &Options{SmallMax: 100})
	expect(t, v2, "n", []byte("packed"))
	if _, err := fs.Stat("/vol/large/n"); err == nil {
		t.Fatal("shadowed large file survived New")
	}
	if got := listAll(t, v2); !slices.Equal(got, []string{"n"}) {
		t.Fatalf("list: %q", got)
	}
}

// TestDeferred: visible at once, durable after SyncDeferred, absent or
// whole before.
func TestDeferred(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewCrashableMem()
	v := newVol(t, fs, "/vol", nil)
	for i := range 20 {
		b := []byte(strings.Repeat(fmt.Sprintf("line %d\n", i), i+1))
		if err := v.PutDeferred(ctx, fmt.Sprintf("d/%02d", i), bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.PutDeferred(ctx, "d/short", strings.NewReader("abc"), 5); !errors.Is(err, hsm.ErrSizeMismatch) {
		t.Fatalf("size mismatch: %v", err)
	}
	if n := len(listAll(t, v)); n != 20 {
		t.Fatalf("listed %d before sync", n)
	}
	lost := newVol(t, fs.CrashClone(vfs.CrashCloneCfg{}), "/vol", nil)
	if n := len(listAll(t, lost)); n != 0 {
		t.Fatalf("%d unsynced objects survived a crash that keeps no unsynced data", n)
	}
	if err := v.SyncDeferred(ctx); err != nil {
		t.Fatal(err)
	}
	kept := newVol(t, fs.CrashClone(vfs.CrashCloneCfg{}), "/vol", nil)
	for i := range 20 {
		expect(t, kept, fmt.Sprintf("d/%02d", i), []byte(strings.Repeat(fmt.Sprintf("line %d\n", i), i+1)))
	}
}

// TestGroupSync checks that concurrent durable puts share fsyncs and all
// survive a crash (run with -race).
func TestGroupSync(t *testing.T) {
	fs := vfs.NewCrashableMem()
	v := newVol(t, fs, "/vol", &Options{PackSize: 64 << 10})
	errs := make(chan error, 16)
	for w := range 16 {
		go func() {
			var err error
			for i := 0; i < 40 && err == nil; i++ {
				err = hsm.PutBytes(context.Background(), v, fmt.Sprintf("g/%d/%d", w, i), bytes.Repeat([]byte{byte(w)}, 1000+i))
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	v2 := newVol(t, fs.CrashClone(vfs.CrashCloneCfg{}), "/vol", nil)
	for w := range 16 {
		for i := range 40 {
			expect(t, v2, fmt.Sprintf("g/%d/%d", w, i), bytes.Repeat([]byte{byte(w)}, 1000+i))
		}
	}
}

func TestClosed(t *testing.T) {
	v, err := New(vfs.NewMem(), "/vol", nil)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, v, "x", []byte("x"))
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := hsm.PutBytes(context.Background(), v, "y", []byte("y")); !errors.Is(err, ErrClosed) {
		t.Fatalf("put after close: %v", err)
	}
	if _, err := v.Get(context.Background(), "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
}
