package catalog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/enginesrc"
	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/hsm/memvol"
	"github.com/tidemark/tidemark/internal/crashfs"
)

// survives runs f in a goroutine of its own and reports whether it
// returned: Pebble panics on a write that fails where it cannot go on (a
// commit, the manifest), which here stands for the crash that ends the
// process.
func survives(f func()) bool {
	done := make(chan bool, 1)
	go func() {
		returned := false
		defer func() {
			_ = recover()
			done <- returned
		}()
		f()
		returned = true
	}()
	return <-done
}

// applyAll runs a scanner over h's engine into repo with the catalog in
// /cat on fs until the log's last record is shipped or the scanner ends
// (the crash harness killed it). It reports whether everything shipped.
func applyAll(t *testing.T, h *backuptest.Harness, repo *repository.Repository, fs vfs.FS) (*catalog.Catalog, bool) {
	t.Helper()
	var cat *catalog.Catalog
	var err error
	if !survives(func() { cat, err = catalog.Open("/cat", &catalog.Options{FS: fs}) }) || err != nil {
		return nil, false
	}
	src := enginesrc.New(h.Eng)
	var sc *scanner.Scanner
	if !survives(func() {
		sc, err = scanner.New(repo, cat, enginesrc.New(h.Eng), src, src, &scanner.Options{Now: h.Clk.Now,
			ShipInterval: time.Millisecond, ShipBytes: 1, NoCompaction: true, Logger: backuptest.Quiet, SnapshotInterval: -1,
			MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	}) || err != nil {
		return cat, false
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := errors.New("scanner goroutine ended by a fatal catalog error")
		defer func() {
			recover() // a panic of the catalog's Pebble: the process would die
			done <- err
		}()
		err = sc.Run(ctx)
	}()
	want := h.Eng.LogLastLSN()
	for {
		if sc.Live().ShippedLSN >= want {
			cancel()
			<-done
			return cat, true
		}
		select {
		case <-done:
			return cat, false
		case <-time.After(time.Millisecond):
		}
	}
}

// TestCrashCatalogAtEveryWrite crashes the catalog's Pebble at every
// mutating file operation (every other one torn: half the write landed,
// part of the unsynced data kept) while the scanner applies records,
// reopens what the crash left, lets a scanner finish, and checks the
// catalog equals the one rebuilt from the repository and the one an
// uninterrupted run builds.
func TestCrashCatalogAtEveryWrite(t *testing.T) {
	h := backuptest.NewHarness(t, nil)
	backuptest.Workload(t, h)
	h.WaitShipped()
	h.Stop()
	ctx := context.Background()

	clean := crashfs.New()
	repo0, err := repository.Init(ctx, memvol.New(nil), h.Clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	cat, ok := applyAll(t, h, repo0, clean)
	if !ok {
		t.Fatal("uninterrupted run did not ship everything")
	}
	ref, err := cat.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cat.Close()
	ops := clean.Ops()
	t.Logf("%d catalog file operations in an uninterrupted run", ops)
	if ops < 20 {
		t.Fatalf("only %d operations: the workload did not exercise the catalog", ops)
	}
	crashes := 0
	for k := 1; k <= ops; k++ {
		fs := crashfs.New()
		fs.CrashAt, fs.Torn, fs.Seed, fs.UnsyncedPercent = k, k%2 == 0, uint64(k), 50
		repo, err := repository.Init(ctx, memvol.New(nil), h.Clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		vol := repo.Volume()
		applyAll(t, h, repo, fs) // the crashed catalog is never closed, as after a crash
		left := fs.Crashed()
		if left == nil {
			continue // the run made fewer operations this time
		}
		crashes++
		// Restart on what the crash left, against the same repository.
		repo, err = repository.Open(ctx, vol)
		if err != nil {
			t.Fatal(err)
		}
		cat, ok := applyAll(t, h, repo, left)
		if !ok {
			t.Fatalf("crash at operation %d: the restarted scanner did not finish", k)
		}
		got, err := cat.Digest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rebuilt, err := catalog.Rebuild(ctx, repo, "/r", vfs.NewMem())
		if err != nil {
			t.Fatal(err)
		}
		want, err := rebuilt.Digest(ctx)
		rebuilt.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got != want || got != ref {
			t.Errorf("crash at operation %d (torn %v): catalog differs from the one rebuilt from the repository (%v) or from an uninterrupted run (%v)",
				k, fs.Torn, got != want, got != ref)
		}
		vr, err := maint.Verify(ctx, repo, cat, maint.VerifyOptions{ReadData: true})
		if err != nil || len(vr.Problems) != 0 {
			t.Errorf("crash at operation %d: verify: %+v %v", k, vr.Problems, err)
		}
		cat.Close()
	}
	t.Logf("%d crashes checked", crashes)
	if crashes < ops/2 {
		t.Fatalf("only %d of %d operations crashed", crashes, ops)
	}
}
