package engine

import (
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm/packvol"
)

// TestExpungedMailFreesPackSpace checks that deleting mail gives the pack
// primary volume's disk space back once collection and compaction have run.
func TestExpungedMailFreesPackSpace(t *testing.T) {
	o := testOptions(vfs.NewMem())
	e, err := Open("data", o)
	must(t, err)
	defer e.Close()
	pv, ok := e.prim().vol.(*packvol.Volume)
	if !ok {
		t.Fatalf("default primary is %T, want a pack volume", e.prim().vol)
	}
	must(t, e.CreateDomain(ctx, "example.org"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "a@example.org"})
	must(t, err)
	inbox := inboxOf(t, e, a.ID)
	var ids []uint64
	for i := 0; i < 200; i++ {
		body := []byte("Subject: m\r\n\r\n" + string(rune('a'+i%26)) + string(make([]byte, 2000+i)))
		res, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: body})
		must(t, err)
		ids = append(ids, res[0].Item.ID)
	}
	must(t, e.Checkpoint(ctx))
	// Roll the pack so the blobs sit in an older one, which compaction may
	// rewrite (the newest pack is never compacted).
	must(t, e.Close())
	e, err = Open("data", o)
	must(t, err)
	defer e.Close()
	pv = e.prim().vol.(*packvol.Volume)
	before := pv.Stats()
	_, err = e.Expunge(ctx, a.ID, inbox.ID, ids[:180])
	must(t, err)
	// Collection runs on the writer after a checkpoint has passed the drop;
	// compaction after a later timed checkpoint.
	var after packvol.Stats
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		must(t, e.Checkpoint(ctx))
		e.compactPrimary()
		after = pv.Stats()
		if after.PackBytes < before.PackBytes/2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pack bytes %d (objects %d) after expunging 90%% of %d (objects %d)",
				after.PackBytes, after.Objects, before.PackBytes, before.Objects)
		}
	}
	must(t, e.Check(ctx))
	items, err := e.ListItems(ctx, a.ID, inbox.ID)
	must(t, err)
	if len(items) != 20 {
		t.Fatalf("%d items left, want 20", len(items))
	}
	for _, it := range items {
		if _, err := e.ReadBlobRange(ctx, a.ID, it.ID, 0, -1); err != nil {
			t.Fatalf("item %d unreadable after compaction: %v", it.ID, err)
		}
	}
}

// TestPackIndexCheckpoint checks that engine checkpoints write the pack
// volume's index checkpoint once enough bytes have been appended, so an
// open after a crash need not scan every pack.
func TestPackIndexCheckpoint(t *testing.T) {
	fs := vfs.NewMem()
	o := testOptions(fs)
	o.PackIndexEvery = 10 << 10
	e, err := Open("data", o)
	must(t, err)
	defer e.Close()
	ckpt := fs.PathJoin("data", VolumesDir, "primary", packvol.CheckpointFile)
	must(t, e.CreateDomain(ctx, "example.org"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "a@example.org"})
	must(t, err)
	must(t, e.Checkpoint(ctx))
	if _, err := fs.Stat(ckpt); err == nil {
		t.Fatal("index checkpoint written before PackIndexEvery bytes")
	}
	for i := 0; i < 20; i++ {
		body := []byte("Subject: m\r\n\r\n" + string(rune('a'+i)) + string(make([]byte, 1000)))
		_, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: body})
		must(t, err)
	}
	must(t, e.Checkpoint(ctx))
	if _, err := fs.Stat(ckpt); err != nil {
		t.Fatalf("no index checkpoint after %d bytes: %v", o.PackIndexEvery, err)
	}
}
