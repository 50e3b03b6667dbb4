package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/internal/vfsutil"
)

// checkBlobCopies asserts that every blob with a record is whole on its
// volume: a referenced blob must be there, and any copy that is there must
// hash to its digest.
func checkBlobCopies(t testing.TB, e *Engine) {
	t.Helper()
	err := scan(e.db, []byte{tBlob}, func(k, v []byte) error {
		var br blobRec
		if err := decVal(v, &br); err != nil {
			return err
		}
		var d dedup.Digest
		copy(d[:], k[1:])
		framed, err := hsm.ReadAll(ctx, e.volumes[br.Volume], dedup.BlobName(d))
		if err != nil {
			if br.Refs > 0 {
				t.Fatalf("blob %s (refs %d) unreadable: %v", d, br.Refs, err)
			}
			return nil
		}
		raw, err := dedup.Decode(framed)
		if err != nil || dedup.Sum(raw) != d {
			t.Fatalf("blob %s (refs %d): copy of %d bytes does not verify against its digest (%v)", d, br.Refs, len(framed), err)
		}
		return nil
	})
	must(t, err)
}

// emptyCopies counts blob files on the crashed file system that exist but
// hold nothing: renamed, not synced.
func emptyCopies(t *testing.T, fs vfs.FS, dir string) int {
	t.Helper()
	n := 0
	subs, err := fs.List(dir)
	must(t, err)
	for _, s := range subs {
		names, err := fs.List(fs.PathJoin(dir, s))
		must(t, err)
		for _, name := range names {
			fi, err := fs.Stat(fs.PathJoin(dir, s, name))
			must(t, err)
			if fi.Size() == 0 {
				n++
			}
		}
	}
	return n
}

// TestInlineCopiesAfterCrash delivers inline messages, then crashes in the
// worst place for deferred copies: the renames reached the disk (their
// directories were synced, as the kernel may do at any time) but the data
// did not, so the blob files are there and empty. With "flushed" Pebble
// had also flushed on its own, so the applied LSN is past the records and
// recovery must verify without replaying; otherwise it replays them. After
// a checkpoint the copies must be whole without any repair.
func TestInlineCopiesAfterCrash(t *testing.T) {
	blobDir := "data/volumes/primary/blobs"
	for _, mode := range []string{"replayed", "flushed", "checkpointed"} {
		t.Run(mode, func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			o := inlineOpts(fs)
			o.PrimaryLayout = LayoutLocal // the torn-file case is one file per blob
			e, err := Open("data", o)
			must(t, err)
			must(t, e.CreateDomain(ctx, "i.example"))
			a, err := e.CreateAccount(ctx, AccountSpec{Address: "u@i.example"})
			must(t, err)
			must(t, e.Checkpoint(ctx))
			for i := range 40 {
				body := fmt.Appendf(nil, "Subject: %d\r\n\r\n%s", i, strings.Repeat("y", 50+i))
				res, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: body, InternalDate: time.Unix(1e9, 0)})
				must(t, err)
				must(t, res[0].Err)
				// Readable as soon as it is acknowledged.
				got, err := e.ReadBlobRange(ctx, a.ID, res[0].Item.ID, 0, -1)
				must(t, err)
				if string(got) != string(body) {
					t.Fatalf("message %d read back as %q", i, got)
				}
			}
			want := mailboxDump(t, e)
			// The copies are written in the background: let them reach
			// the volume (unsynced) so the crash can tear them.
			must(t, e.copies.barrier())
			switch mode {
			case "flushed":
				must(t, e.db.Flush())
			case "checkpointed":
				must(t, e.Checkpoint(ctx))
			}
			subs, err := fs.List(blobDir)
			must(t, err)
			for _, s := range subs {
				must(t, vfsutil.SyncDir(fs, fs.PathJoin(blobDir, s)))
			}
			crashed := fs.CrashClone(vfs.CrashCloneCfg{})
			must(t, e.Close())

			empty := emptyCopies(t, crashed, blobDir)
			if mode == "checkpointed" && empty != 0 {
				t.Fatalf("%d empty copies after a checkpoint", empty)
			}
			if mode != "checkpointed" && empty == 0 {
				t.Fatalf("the crash left no empty copy: the test does not test")
			}
			e2, err := Open("data", inlineOpts(crashed))
			must(t, err)
			must(t, e2.Check(ctx))
			checkBlobCopies(t, e2)
			if got := mailboxDump(t, e2); got != want {
				t.Fatalf("after crash:\n%s\nwant\n%s", got, want)
			}
			if e2.CheckpointLSN() != e2.AppliedLSN() {
				t.Fatalf("after recovery checkpoint %d, applied %d", e2.CheckpointLSN(), e2.AppliedLSN())
			}
			must(t, e2.Close())
			if n := emptyCopies(t, crashed, blobDir); n != 0 {
				t.Fatalf("%d copies still empty after recovery", n)
			}
		})
	}
}

// inlineOpts are the test options with a 1 KiB inline limit.
func inlineOpts(fs vfs.FS) *Options {
	o := testOptions(fs)
	o.InlineBlobMax = 1024
	return o
}
