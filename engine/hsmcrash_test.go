package engine

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
)

// moveCrashSetup builds, on fs, a data directory with a secondary volume
// "cold" and messages of both kinds (inline and blob-first), and returns
// the account and the messages by item id.
func moveCrashSetup(t *testing.T, fs vfs.FS) (uint64, map[uint64][]byte) {
	t.Helper()
	e := openTest(t, fs, "data")
	must(t, e.CreateDomain(ctx, "example.org"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "alice@example.org", Password: "pw"})
	must(t, err)
	must(t, e.CreateVolume(ctx, hsm.Spec{Name: "cold", Kind: hsm.KindSecondary, Type: hsm.TypeLocal, Compress: true}))
	must(t, e.SetCurrentVolume(ctx, "cold"))
	inbox, err := e.FolderByPath(ctx, a.ID, "INBOX")
	must(t, err)
	bodies := map[uint64][]byte{}
	for i := range 5 {
		size := 300 + i
		if i%2 == 1 {
			size = DefaultInlineBlobMax + 500 + i
		}
		b := fmt.Appendf(nil, "Subject: %d\r\n\r\n%s\r\n", i, bytes.Repeat([]byte{'k' + byte(i)}, size))
		it, err := e.Append(ctx, a.ID, inbox.ID, b, nil, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
		must(t, err)
		bodies[it.ID] = b
	}
	must(t, e.Close())
	return a.ID, bodies
}

// checkReadable opens the data directory on fs, reads every message back
// byte for byte, checks the state against the volumes, and runs the move
// again to its end.
func checkReadable(t *testing.T, fs vfs.FS, acct uint64, bodies map[uint64][]byte, k int) {
	t.Helper()
	e, err := Open("data", testOptions(fs))
	if err != nil {
		t.Fatalf("crash at op %d: reopen: %v", k, err)
	}
	defer e.Close()
	read := func(when string) {
		for id, b := range bodies {
			got, err := e.ReadBlobRange(ctx, acct, id, 0, -1)
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("crash at op %d, %s: item %d: %v", k, when, id, err)
			}
		}
		if err := e.Check(ctx); err != nil {
			t.Fatalf("crash at op %d, %s: %v", k, when, err)
		}
	}
	read("after reopening")
	rep, err := e.MoveByPolicy(ctx, MoveOptions{Match: func(PolicyItem) bool { return true }})
	if err != nil || rep.Blobs+rep.Already != int64(len(bodies)) {
		t.Fatalf("crash at op %d: move run again: %+v %v", k, rep, err)
	}
	must(t, e.Checkpoint(ctx))
	read("after the move run again")
	if n, _ := e.PendingOldCopies(); n != 0 {
		t.Fatalf("crash at op %d: %d old copies left after the move and a checkpoint", k, n)
	}
	cold, err := e.OpenVolume(ctx, "cold")
	must(t, err)
	for id := range bodies {
		_, it, err := loadItem(e.db, acct, id)
		must(t, err)
		d := dedup.Digest(it.Digest)
		if loc, _ := e.BlobAt(ctx, d); loc.Volume != "cold" {
			t.Fatalf("crash at op %d: item %d on %s after the rerun", k, id, loc.Volume)
		}
		if _, err := cold.Stat(ctx, dedup.BlobName(d)); err != nil {
			t.Fatalf("crash at op %d: item %d not on cold: %v", k, id, err)
		}
	}
}

// TestMoveCrashAtEveryWrite: a crash at every write of a move (the copies
// to the secondary, the BlobMoved records, the checkpoint, the deletion of
// the old copies) leaves every message readable, the state consistent
// with the volumes, and a move run again completes. Each crash point is
// the synced state a power cut right before that write would leave
// (crashFS, crash_test.go).
func TestMoveCrashAtEveryWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop; skipped with -short")
	}
	move := func(fs vfs.FS) {
		e, err := Open("data", testOptions(fs))
		must(t, err)
		rep, err := e.MoveByPolicy(ctx, MoveOptions{Match: func(PolicyItem) bool { return true }})
		if err != nil || rep.Blobs != 5 {
			t.Fatalf("move: %+v %v", rep, err)
		}
		must(t, e.Checkpoint(ctx))
		must(t, e.Close())
	}
	probe := &crashFS{mem: vfs.NewCrashableMem(), k: -1}
	acct, bodies := moveCrashSetup(t, errorfs.Wrap(probe.mem, probe))
	before := probe.n.Load()
	move(errorfs.Wrap(probe.mem, probe))
	after := probe.n.Load()
	if after-before < 10 {
		t.Fatalf("the move made only %d writes", after-before)
	}
	crashes, skipped := 0, 0
	for k := before + 1; k <= after; k++ {
		cfs := &crashFS{mem: vfs.NewCrashableMem(), k: -1}
		moveCrashSetup(t, errorfs.Wrap(cfs.mem, cfs))
		cfs.k = cfs.n.Load() + (k - before)
		move(errorfs.Wrap(cfs.mem, cfs))
		cfs.mu.Lock()
		clone := cfs.clone
		cfs.mu.Unlock()
		if clone == nil {
			// Background writers (Pebble's flushes) make the count of a
			// run differ by a few writes from the probe's.
			if cfs.n.Load() < cfs.k {
				skipped++
				continue
			}
			t.Fatalf("crash point %d not reached", k)
		}
		crashes++
		checkReadable(t, clone, acct, bodies, int(k-before))
	}
	if skipped > int(after-before)/20 {
		t.Fatalf("%d of %d crash points not reached", skipped, after-before)
	}
	t.Logf("%d crash points of the move checked (%d past the end of a shorter run)", crashes, skipped)
}
