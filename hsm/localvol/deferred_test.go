package localvol_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
)

func putDeferred(t *testing.T, v *localvol.Volume, name, body string) {
	t.Helper()
	if err := v.PutDeferred(context.Background(), name, strings.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
}

func deferredName(i int) string { return fmt.Sprintf("blobs/%02x/obj%03d", i%4, i) }

func deferredBody(i int) string { return strings.Repeat(fmt.Sprintf("line %d of a message\n", i), i+1) }

// TestDeferredVisible checks that a deferred object reads back at once, is
// counted as pending until SyncDeferred, and that a wrong size stores
// nothing.
func TestDeferredVisible(t *testing.T) {
	ctx := context.Background()
	v, err := localvol.New(vfs.NewMem(), "/vol", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		putDeferred(t, v, deferredName(i), deferredBody(i))
	}
	for i := range 10 {
		b, err := hsm.ReadAll(ctx, v, deferredName(i))
		if err != nil || string(b) != deferredBody(i) {
			t.Fatalf("read %s before sync: %q, %v", deferredName(i), b, err)
		}
	}
	if got := listAll(t, v); len(got) != 10 {
		t.Fatalf("list shows %d objects, want 10: %q", len(got), got)
	}
	if err := v.Delete(ctx, deferredName(3)); err != nil {
		t.Fatal(err)
	}
	if n := v.Pending(); n != 9 {
		t.Fatalf("pending %d, want 9 (one deleted)", n)
	}
	err = v.PutDeferred(ctx, "blobs/00/short", strings.NewReader("abc"), 5)
	if !errors.Is(err, hsm.ErrSizeMismatch) {
		t.Fatalf("size mismatch: %v", err)
	}
	if _, err := v.Stat(ctx, "blobs/00/short"); !errors.Is(err, hsm.ErrNotFound) {
		t.Fatalf("failed put left an object: %v", err)
	}
	if err := v.PutDeferred(ctx, "a/../b", strings.NewReader(""), 0); !errors.Is(err, hsm.ErrInvalidName) {
		t.Fatalf("invalid name: %v", err)
	}
	if err := v.SyncDeferred(ctx); err != nil {
		t.Fatal(err)
	}
	if n := v.Pending(); n != 0 {
		t.Fatalf("pending %d after sync", n)
	}
	if got := listAll(t, v); len(got) != 9 {
		t.Fatalf("after sync: %q", got)
	}
}

// TestDeferredCrash crashes the file system twice: before SyncDeferred a
// deferred object may be missing or, when its directory was made durable
// by another write, present with only part of its bytes (which is what a
// real disk can show after rename without fsync), so callers must verify;
// after SyncDeferred every object is whole. Durable puts are whole either
// way.
func TestDeferredCrash(t *testing.T) {
	ctx := context.Background()
	for _, pct := range []int{0, 50} {
		fs := vfs.NewCrashableMem()
		v, err := localvol.New(fs, "/data/vol", nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			putDeferred(t, v, deferredName(i), deferredBody(i))
		}
		// A durable put into one of the directories makes its entries,
		// including the unsynced renames, durable.
		if err := hsm.PutBytes(ctx, v, "blobs/01/durable", []byte("durable")); err != nil {
			t.Fatal(err)
		}
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(1, uint64(pct)))})
		v2, err := localvol.New(crashed, "/data/vol", nil)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := hsm.ReadAll(ctx, v2, "blobs/01/durable"); err != nil || string(b) != "durable" {
			t.Fatalf("durable object after crash: %q, %v", b, err)
		}
		torn := 0
		for i := range 20 {
			b, err := hsm.ReadAll(ctx, v2, deferredName(i))
			switch {
			case errors.Is(err, hsm.ErrNotFound):
			case err != nil:
				t.Fatal(err)
			case !strings.HasPrefix(deferredBody(i), string(b)):
				t.Fatalf("unsynced %s after crash holds bytes never written: %q", deferredName(i), b)
			case string(b) != deferredBody(i):
				torn++
				if pct == 0 && i%4 != 1 {
					t.Fatalf("%s visible though its directory was never synced", deferredName(i))
				}
			}
		}
		if pct == 0 && torn == 0 {
			t.Fatalf("expected renamed-but-unsynced objects to show up empty in the synced directory")
		}

		if err := v.SyncDeferred(ctx); err != nil {
			t.Fatal(err)
		}
		crashed = fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(2, uint64(pct)))})
		v3, err := localvol.New(crashed, "/data/vol", nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			b, err := hsm.ReadAll(ctx, v3, deferredName(i))
			if err != nil || string(b) != deferredBody(i) {
				t.Fatalf("%s after sync and crash: %q, %v", deferredName(i), b, err)
			}
		}
	}
}

// failSyncs fails file syncs while on.
type failSyncs struct{ on atomic.Bool }

var errInjected = errors.New("injected sync failure")

func (f *failSyncs) MaybeError(op errorfs.Op) error {
	if f.on.Load() && op.Kind == errorfs.OpFileSync {
		return errInjected
	}
	return nil
}

func (f *failSyncs) String() string { return "failSyncs" }

// TestDeferredSyncRetry fails a SyncDeferred and checks that the objects
// stay pending and a later call makes them durable.
func TestDeferredSyncRetry(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewCrashableMem()
	inj := &failSyncs{}
	v, err := localvol.New(errorfs.Wrap(mem, inj), "/vol", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		putDeferred(t, v, deferredName(i), deferredBody(i))
	}
	inj.on.Store(true)
	if err := v.SyncDeferred(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("sync with failing disk: %v", err)
	}
	if n := v.Pending(); n != 5 {
		t.Fatalf("pending %d after failed sync, want 5", n)
	}
	inj.on.Store(false)
	if err := v.SyncDeferred(ctx); err != nil {
		t.Fatal(err)
	}
	v2, err := localvol.New(mem.CrashClone(vfs.CrashCloneCfg{}), "/vol", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if b, err := hsm.ReadAll(ctx, v2, deferredName(i)); err != nil || string(b) != deferredBody(i) {
			t.Fatalf("%s after retried sync and crash: %q, %v", deferredName(i), b, err)
		}
	}
}

// TestDeferredConcurrent puts and syncs from many goroutines (run with
// -race).
func TestDeferredConcurrent(t *testing.T) {
	ctx := context.Background()
	v, err := localvol.New(vfs.NewMem(), "/vol", nil)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			var err error
			for i := w * 50; i < w*50+50 && err == nil; i++ {
				body := deferredBody(i % 7)
				err = v.PutDeferred(ctx, deferredName(i), strings.NewReader(body), int64(len(body)))
				if err == nil && i%10 == 0 {
					err = v.SyncDeferred(ctx)
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := v.SyncDeferred(ctx); err != nil || v.Pending() != 0 {
		t.Fatalf("final sync: %v, pending %d", err, v.Pending())
	}
	if got := listAll(t, v); len(got) != 400 {
		t.Fatalf("%d objects, want 400", len(got))
	}
}

// TestDeferredSyncFS: on the operating system's file system, a sync of
// many deferred puts (syncfs) leaves none pending and every object whole.
func TestDeferredSyncFS(t *testing.T) {
	ctx := context.Background()
	v, err := localvol.New(vfs.Default, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		b := []byte(fmt.Sprintf("object %d", i))
		if err := v.PutDeferred(ctx, fmt.Sprintf("blobs/%02x/%d", i%7, i), strings.NewReader(string(b)), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	if v.Pending() != 100 {
		t.Fatalf("%d pending", v.Pending())
	}
	if err := v.SyncDeferred(ctx); err != nil {
		t.Fatal(err)
	}
	if v.Pending() != 0 {
		t.Fatalf("%d pending after the sync", v.Pending())
	}
	for i := range 100 {
		b, err := hsm.ReadAll(ctx, v, fmt.Sprintf("blobs/%02x/%d", i%7, i))
		if err != nil || string(b) != fmt.Sprintf("object %d", i) {
			t.Fatalf("object %d: %q %v", i, b, err)
		}
	}
}
