package backup_test

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

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/backup"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
)

// crashVol stops the world at the n-th write (Put or Delete): before it
// (the write never happens) or after it (it happens, the caller never
// hears). Every later call fails too, as after a process crash.
type crashVol struct {
	hsm.Volume
	mu     sync.Mutex
	n      int
	after  bool
	writes int
	dead   bool
	crash  func()
}

var errCrash = errors.New("crashed")

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
	c.mu.Unlock()
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

// runScanner ships eng's whole log into the repository in dir through vol,
// stopping at the end of the log or when ctx is cancelled.
func runScanner(t *testing.T, ctx context.Context, eng *engine.Engine, vol hsm.Volume, catDir string, now func() time.Time) (*backup.Catalog, *backup.Repository, error) {
	repo, err := backup.InitRepository(ctx, vol, now())
	if err != nil {
		return nil, nil, err
	}
	cat, err := backup.OpenCatalog(catDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := engineSource{eng}
	sc, err := backup.NewScanner(repo, cat, backup.LogOf(eng.Log()), src, src, &backup.Options{Now: now,
		ShipInterval: time.Millisecond, NoCompaction: true, Logger: quiet, SnapshotInterval: -1, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		cat.Close()
		return nil, nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sc.Run(rctx) }()
	want := eng.Log().LastLSN()
	for sc.Live().ShippedLSN < want && rctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	return cat, repo, nil
}

func TestCrashAtEveryRepositoryWrite(t *testing.T) {
	h := newHarness(t, nil)
	workload(t, h)
	h.waitShipped()
	ctx := context.Background()
	ref, err := h.cat.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.stop()
	for _, after := range []bool{false, true} {
		for n := 1; ; n++ {
			dir := t.TempDir()
			base, err := localvol.New(vfs.Default, filepath.Join(dir, "repo"), nil)
			if err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithCancel(ctx)
			cv := &crashVol{Volume: base, n: n, after: after, crash: cancel}
			cat, _, err := runScanner(t, cctx, h.eng, cv, filepath.Join(dir, "cat"), h.clk.Now)
			cancel()
			if cat != nil {
				cat.Close()
			}
			if err != nil && !errors.Is(err, errCrash) && !errors.Is(err, context.Canceled) {
				t.Fatalf("n=%d: %v", n, err)
			}
			crashed := cv.dead
			// Restart on the same repository and catalog, without faults.
			cat, repo, err := runScanner(t, ctx, h.eng, base, filepath.Join(dir, "cat"), h.clk.Now)
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
			vr, err := backup.Verify(ctx, repo, cat, backup.VerifyOptions{ReadData: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range vr.Problems {
				// A blob written just before the crash whose record is shipped
				// again later is fine; anything else is not.
				t.Errorf("%s: verify: %+v", label, p)
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
}
