package maint_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/hsm"
)

// failReads passes calls to a volume and fails the k-th read (List, Get
// or GetRange, counted together) with hsm.ErrInjected.
type failReads struct {
	hsm.Volume
	mu     sync.Mutex
	k, n   int
	failed string
}

func (f *failReads) arm(k int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.k, f.n, f.failed = k, 0, ""
}

// disarm stops failing reads and says which read failed, if any.
func (f *failReads) disarm() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.k = 0
	return f.failed
}

func (f *failReads) hit(what string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.k == 0 {
		return nil
	}
	f.n++
	if f.n != f.k {
		return nil
	}
	f.failed = what
	return hsm.ErrInjected
}

func (f *failReads) List(ctx context.Context, prefix string, fn func(hsm.ObjectInfo) error) error {
	if err := f.hit("list " + prefix); err != nil {
		return err
	}
	return f.Volume.List(ctx, prefix, fn)
}

func (f *failReads) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := f.hit("get " + name); err != nil {
		return nil, err
	}
	return f.Volume.Get(ctx, name)
}

func (f *failReads) GetRange(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	if err := f.hit(fmt.Sprintf("getrange %s %d+%d", name, off, n)); err != nil {
		return nil, err
	}
	return f.Volume.GetRange(ctx, name, off, n)
}

// TestPurgeAbortsOnReadError fails each read purge makes in turn: every
// failed purge returns the error and schedules and deletes nothing (a
// segment it could not read may name a blob that is still referenced), and
// the purge that finally runs undisturbed leaves a repository verify finds
// whole.
func TestPurgeAbortsOnReadError(t *testing.T) {
	for _, format := range []int{1, 2} {
		t.Run(fmt.Sprintf("format%d", format), func(t *testing.T) {
			defer backuptest.SetNewFormat(format)()
			purgeAbortsOnReadError(t)
		})
	}
}

func purgeAbortsOnReadError(t *testing.T) {
	fr := &failReads{}
	h := backuptest.NewHarness(t, func(v hsm.Volume) hsm.Volume { fr.Volume = v; return fr })
	snaps, _ := backuptest.Workload(t, h)
	h.WaitShipped()
	h.Stop()
	ctx := context.Background()
	cat, err := catalog.Open(h.Dir+"/data/backup-catalog", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	before := map[string]bool{}
	if err := fr.Volume.List(ctx, "", func(o hsm.ObjectInfo) error { before[o.Name] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	now := snaps[len(snaps)-1].At.Add(31 * 24 * time.Hour)
	failures := 0
	for k := 1; ; k++ {
		if k > 10000 {
			t.Fatal("purge never ran undisturbed")
		}
		fr.arm(k)
		rep, err := maint.Purge(ctx, h.Repo, cat, maint.PurgeOptions{Retention: maint.DefaultRetention, Now: now})
		failed := fr.disarm()
		if failed == "" {
			if err != nil {
				t.Fatalf("undisturbed purge: %v", err)
			}
			if rep.Segments == 0 || rep.Blobs == 0 {
				t.Fatalf("undisturbed purge after %d failed ones: %+v", failures, rep)
			}
			break
		}
		if err == nil {
			t.Fatalf("purge succeeded although %s failed: %+v", failed, rep)
		}
		if !errors.Is(err, hsm.ErrInjected) {
			t.Fatalf("%s failed, purge says %v", failed, err)
		}
		failures++
		if w, err := cat.PendingDeletes(); err != nil || len(w) != 0 {
			t.Fatalf("%s failed, yet purge scheduled %v (%v)", failed, w, err)
		}
		for name := range before {
			if _, err := fr.Volume.Stat(ctx, name); err != nil {
				t.Fatalf("%s failed, yet %s is gone: %v", failed, name, err)
			}
		}
	}
	if failures < 3 {
		t.Fatalf("only %d reads failed: the test did not reach the segments", failures)
	}
	vr, err := maint.Verify(ctx, h.Repo, cat, maint.VerifyOptions{ReadData: true})
	if err != nil || len(vr.Problems) != 0 {
		t.Fatalf("verify after purge: %+v %v", vr.Problems, err)
	}
	// After the grace period what purge scheduled goes, and what is left
	// still verifies whole.
	if _, err := maint.Purge(ctx, h.Repo, cat, maint.PurgeOptions{Retention: maint.DefaultRetention, Now: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	vr, err = maint.Verify(ctx, backuptest.MustOpenForTest(t, h.Vol), cat, maint.VerifyOptions{ReadData: true})
	if err != nil || len(vr.Problems) != 0 {
		t.Fatalf("verify after the grace period: %+v %v", vr.Problems, err)
	}
}
