package scanner_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/enginesrc"
	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
)

// crashVol stops the world at the n-th write (Put, Delete, PutDeferred or
// SyncDeferred): before it (the write never happens) or after it (it
// happens, the caller never hears). Every later call fails too, as after a
// process crash. Objects stored with PutDeferred that no SyncDeferred has
// covered when the world stops are torn by tearPending, as a power loss
// may leave them.
type crashVol struct {
	hsm.Volume
	mu       sync.Mutex
	n        int
	after    bool
	writes   int
	dead     bool
	crash    func()
	inflight sync.WaitGroup
	pending  map[string]bool // deferred and not yet synced
	torn     int
}

var (
	errCrash   = errors.New("crashed")
	errInMerge = errors.New("pack maintenance")
)

func (c *crashVol) write(do func() error) error {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return errCrash
	}
	c.writes++
	hit := c.writes == c.n
	if hit {
		c.dead = true
	}
	c.inflight.Add(1)
	c.mu.Unlock()
	defer c.inflight.Done()
	if !hit {
		return do()
	}
	if c.after {
		_ = do()
	}
	c.crash()
	return errCrash
}

func (c *crashVol) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	return c.write(func() error { return c.Volume.Put(ctx, name, r, size) })
}

func (c *crashVol) Delete(ctx context.Context, name string) error {
	return c.write(func() error { return c.Volume.Delete(ctx, name) })
}

func (c *crashVol) PutDeferred(ctx context.Context, name string, r io.Reader, size int64) error {
	return c.write(func() error {
		if err := c.Volume.(hsm.DeferredSyncer).PutDeferred(ctx, name, r, size); err != nil {
			return err
		}
		c.mu.Lock()
		if c.pending == nil {
			c.pending = map[string]bool{}
		}
		c.pending[name] = true
		c.mu.Unlock()
		return nil
	})
}

func (c *crashVol) SyncDeferred(ctx context.Context) error {
	return c.write(func() error {
		c.mu.Lock()
		covered := c.pending
		c.pending = nil
		c.mu.Unlock()
		if err := c.Volume.(hsm.DeferredSyncer).SyncDeferred(ctx); err != nil {
			c.mu.Lock()
			if c.pending == nil {
				c.pending = map[string]bool{}
			}
			for n := range covered {
				c.pending[n] = true
			}
			c.mu.Unlock()
			return err
		}
		return nil
	})
}

// tearPending waits for the writes in flight, then replaces every deferred
// object no sync covered with its first half, durably: what a crash may
// leave of a file renamed into place but never fsynced.
func (c *crashVol) tearPending(t *testing.T) {
	c.inflight.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx := context.Background()
	for name := range c.pending {
		b, err := hsm.ReadAll(ctx, c.Volume, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := hsm.PutBytes(ctx, c.Volume, name, b[:len(b)/2]); err != nil {
			t.Fatal(err)
		}
		c.torn++
	}
	c.pending = nil
}

// runScanner ships eng's whole log into the repository in dir through vol,
// stopping at the end of the log or when ctx is cancelled.
// With a non-nil merge it then runs four passes of pack maintenance, each
// after merge has moved the clock past every level and the grace period.
func runScanner(t *testing.T, ctx context.Context, eng *engine.Engine, vol hsm.Volume, catDir string, now func() time.Time, merge func(time.Duration)) (*catalog.Catalog, *repository.Repository, error) {
	repo, err := repository.Init(ctx, vol, now())
	if err != nil {
		return nil, nil, err
	}
	cat, err := catalog.Open(catDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := enginesrc.New(eng)
	sc, err := scanner.New(repo, cat, enginesrc.New(eng), src, src, &scanner.Options{Now: now,
		ShipInterval: time.Millisecond, NoCompaction: true, Logger: backuptest.Quiet, SnapshotInterval: -1, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		cat.Close()
		return nil, nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sc.Run(rctx) }()
	want := eng.LogLastLSN()
	for sc.Live().ShippedLSN < want && rctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if merge != nil {
		for pass := 0; pass < 4 && ctx.Err() == nil; pass++ {
			merge(2 * time.Hour)
			if _, err := sc.MergePacks(ctx); err != nil {
				return cat, repo, fmt.Errorf("%w: %w", errInMerge, err) // crashed: the restart finishes
			}
		}
	}
	return cat, repo, nil
}

// TestCrashAtEveryRepositoryWrite crashes a format 1 repository (loose
// blobs, a dictionary) at every write.
func TestCrashAtEveryRepositoryWrite(t *testing.T) {
	defer backuptest.SetNewFormat(1)()
	// Train the dictionary early so storing it is one of the crash points.
	defer backuptest.SetDictSample(3)()
	crashEveryWrite(t, false, false)
}

// TestCrashAtEveryPackWrite crashes a packed repository at every write:
// pack puts, segment puts, and the deferred loose blobs beside them (small
// sizes so the workload makes multi-chunk packs and loose blobs).
func TestCrashAtEveryPackWrite(t *testing.T) {
	defer backuptest.SetPackSizes(256, 600)()
	crashEveryWrite(t, true, false)
}

// TestCrashDuringPackMerge crashes a packed repository at every write of
// shipping and then of pack maintenance: the merged pack's Put and the
// deletions of the packs it superseded.
func TestCrashDuringPackMerge(t *testing.T) {
	defer backuptest.SetPackSizes(256, 3000)()
	defer backuptest.SetPackTarget(200)()
	crashEveryWrite(t, true, true)
}

func crashEveryWrite(t *testing.T, wantPacks, merge bool) {
	h := backuptest.NewHarness(t, nil)
	backuptest.Workload(t, h)
	h.WaitShipped()
	ctx := context.Background()
	packs := 0
	if err := h.Vol.List(ctx, "packs/", func(hsm.ObjectInfo) error { packs++; return nil }); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d packs shipped", packs)
	if (packs > 0) != wantPacks || (merge && packs < 2) {
		t.Fatalf("%d packs written", packs)
	}
	ref, err := h.Cat.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.Stop()
	torn := 0
	var mergeHook func(time.Duration)
	if merge {
		// Ship many small packs (written at 200 bytes), then merge them
		// as packs under half of 64 KiB.
		mergeHook = func(d time.Duration) { h.Clk.Add(d); backuptest.SetPackTarget(64 << 10) }
	}
	smallPacks := func() {
		if merge {
			backuptest.SetPackTarget(200)
		}
	}
	mergeCrashes := 0
	for _, after := range []bool{false, true} {
		for n := 1; ; n++ {
			dir := t.TempDir()
			base, err := localvol.New(vfs.Default, filepath.Join(dir, "repo"), nil)
			if err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithCancel(ctx)
			smallPacks()
			cv := &crashVol{Volume: base, n: n, after: after, crash: cancel}
			cat, _, err := runScanner(t, cctx, h.Eng, cv, filepath.Join(dir, "cat"), h.Clk.Now, mergeHook)
			cancel()
			if cat != nil {
				cat.Close()
			}
			cv.tearPending(t)
			torn += cv.torn
			if errors.Is(err, errInMerge) {
				mergeCrashes++
				err = errCrash
			}
			if err != nil && !errors.Is(err, errCrash) && !errors.Is(err, context.Canceled) {
				t.Fatalf("n=%d: %v", n, err)
			}
			crashed := cv.dead
			// Restart on the same repository and catalog, without faults.
			smallPacks()
			cat, repo, err := runScanner(t, ctx, h.Eng, base, filepath.Join(dir, "cat"), h.Clk.Now, mergeHook)
			if err != nil {
				t.Fatalf("n=%d after=%v: restart: %v", n, after, err)
			}
			got, err := cat.Digest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			label := fmt.Sprintf("crash at write %d (after=%v)", n, after)
			if got != ref {
				t.Errorf("%s: catalog differs from an uninterrupted run", label)
			}
			vr, err := maint.Verify(ctx, repo, cat, maint.VerifyOptions{ReadData: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range vr.Problems {
				// A blob written just before the crash whose record is shipped
				// again later is fine; anything else is not.
				t.Errorf("%s: verify: %+v", label, p)
			}
			if merge {
				// Maintenance finished after the restart: nothing waits
				// for deletion, and the packs are merged into one, or two
				// when the crash came before the last ship (the packs
				// the restart finds are born at the restart, in another
				// window than those it writes).
				n := 0
				if err := base.List(ctx, "packs/", func(hsm.ObjectInfo) error { n++; return nil }); err != nil {
					t.Fatal(err)
				}
				w, err := cat.PendingDeletes()
				if err != nil || n > 2 || len(w) != 0 {
					t.Errorf("%s: %d packs and %d waiting after maintenance: %v", label, n, len(w), err)
				}
			}
			cat.Close()
			if !crashed {
				t.Logf("after=%v: %d repository writes, each crashed at once", after, n-1)
				if n < 10 {
					t.Fatalf("only %d writes: the workload did not exercise the scanner", n)
				}
				break
			}
		}
	}
	// The local volume defers blob fsyncs: crashes must have left torn
	// blobs behind, or the window the test guards was never open.
	t.Logf("%d unsynced blobs torn at crashes", torn)
	// How many packs shipping makes depends on how fast the scanner reads
	// the log (3 to 11 crashes in maintenance seen); two are the least
	// that reach both the merged pack's Put and a superseded pack's
	// deletion, which is what this test is for.
	if merge && mergeCrashes < 2 {
		t.Fatalf("only %d crashes hit pack maintenance", mergeCrashes)
	}
	if merge {
		t.Logf("%d crashes in pack maintenance", mergeCrashes)
	}
	// The merge run ships few, batched writes whose grouping depends on
	// how fast the scanner reads the log; whether one of them leaves a
	// deferred loose blob unsynced is timing, and the two runs above
	// guard that window. Its own check is the crashes in maintenance.
	if torn == 0 && !merge {
		t.Fatal("no crash hit an unsynced deferred blob")
	}
}
