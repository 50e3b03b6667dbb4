package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tidemark/tidemark/engine/event"
)

// changesByScan is what ChangesSince must answer for the changed items,
// worked out from the whole folder.
func changesByScan(t *testing.T, e *Engine, acct, folder, since uint64) []string {
	t.Helper()
	items, err := e.ListItems(ctx, acct, folder)
	must(t, err)
	var out []string
	for _, it := range items {
		if it.ModSeq > since {
			out = append(out, fmt.Sprintf("%d:%d:%v", it.UID, it.ModSeq, it.Flags))
		}
	}
	return out
}

func changedStrings(items []Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprintf("%d:%d:%v", it.UID, it.ModSeq, it.Flags))
	}
	return out
}

// A random history of appends, flag changes, copies, moves (within the
// folder too) and expunges: from every MODSEQ seen, ChangesSince and
// ChangedSince give exactly the items whose MODSEQ is above it (the
// answer a full scan gives) and the UIDs that left since; replay from the
// redo log gives the same answers and Check finds the index consistent.
func TestChangesSinceRandomHistory(t *testing.T) {
	r := newModseqRig(t)
	e, acct := r.e, r.acct
	inbox := inboxOf(t, e, acct).ID
	other, err := e.CreateFolder(ctx, acct, "Other", "")
	must(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	var marks []uint64
	// present[uid] for the inbox, to know what left after each mark.
	type gone struct {
		uid    uint32
		modseq uint64
	}
	var left []gone
	for step := 0; step < 120; step++ {
		marks = append(marks, r.folder(inbox).HighestModSeq)
		items, err := e.ListItems(ctx, acct, inbox)
		must(t, err)
		pick := func(n int) []uint64 {
			var ids []uint64
			for _, i := range rng.Perm(len(items))[:min(n, len(items))] {
				ids = append(ids, items[i].ID)
			}
			return ids
		}
		switch op := rng.IntN(6); {
		case op <= 1 || len(items) < 4:
			_, err := e.Append(ctx, acct, inbox, msg(fmt.Sprint("s", step), "b"), nil, time.Time{})
			must(t, err)
		case op == 2:
			_, err := e.StoreFlags(ctx, acct, inbox, pick(3), FlagsAdd, []string{fmt.Sprintf("k%d", rng.IntN(3)), `\Seen`}, 0)
			must(t, err)
		case op == 3:
			_, err := e.Copy(ctx, acct, inbox, pick(2), other.ID)
			must(t, err)
		case op == 4:
			ids := pick(1)
			to := other.ID
			if rng.IntN(2) == 0 {
				to = inbox
			}
			before := items
			mv, err := e.Move(ctx, acct, inbox, ids, to)
			must(t, err)
			for _, it := range before {
				if it.ID == ids[0] {
					left = append(left, gone{it.UID, mv[0].ModSeq})
				}
			}
		default:
			ids := pick(2)
			_, err := e.Expunge(ctx, acct, inbox, ids)
			must(t, err)
			for _, it := range items {
				if slices.Contains(ids, it.ID) {
					left = append(left, gone{it.UID, e.AppliedLSN()})
				}
			}
		}
	}
	marks = append(marks, r.folder(inbox).HighestModSeq, 0)
	check := func(what string) {
		t.Helper()
		for _, m := range marks {
			want := changesByScan(t, r.e, acct, inbox, m)
			ch, err := r.e.ChangesSince(ctx, acct, inbox, m)
			must(t, err)
			if got := changedStrings(ch.Changed); !slices.Equal(got, want) {
				t.Fatalf("%s: ChangesSince(%d).Changed = %v, want %v", what, m, got, want)
			}
			cs, err := r.e.ChangedSince(ctx, acct, inbox, m)
			must(t, err)
			if got := changedStrings(cs); !slices.Equal(got, want) {
				t.Fatalf("%s: ChangedSince(%d) = %v, want %v", what, m, got, want)
			}
			var wantGone []uint32
			for _, g := range left {
				if g.modseq > m {
					wantGone = append(wantGone, g.uid)
				}
			}
			slices.Sort(wantGone)
			if !ch.Complete || fmt.Sprint(ch.Vanished) != fmt.Sprint(wantGone) {
				t.Fatalf("%s: ChangesSince(%d).Vanished = %v (complete %v), want %v", what, m, ch.Vanished, ch.Complete, wantGone)
			}
			if ch.Folder.HighestModSeq != r.folder(inbox).HighestModSeq {
				t.Fatalf("%s: ChangesSince folder HIGHESTMODSEQ %d", what, ch.Folder.HighestModSeq)
			}
		}
		must(t, r.e.Check(ctx))
	}
	check("live")
	digest, err := r.e.StateDigest(ctx)
	must(t, err)
	r.replay()
	check("replayed")
	if d, err := r.e.StateDigest(ctx); err != nil || d != digest {
		t.Fatalf("state digest after replay %s (%v), want %s", d, err, digest)
	}
}

// A projection made before the change index gets it built at Open, with
// the same answers and the same state digest; records replayed after the
// build keep it.
func TestChangeIndexBuiltForOldProjection(t *testing.T) {
	r := newModseqRig(t)
	e, acct := r.e, r.acct
	inbox := inboxOf(t, e, acct).ID
	items, errs := e.AppendMany(ctx, acct, inbox, manyMsgs("c", 8, 0), event.AddAppended)
	for _, err := range errs {
		must(t, err)
	}
	mark := r.folder(inbox).HighestModSeq
	_, err := e.StoreFlags(ctx, acct, inbox, []uint64{items[2].ID, items[5].ID}, FlagsAdd, []string{`\Flagged`}, 0)
	must(t, err)
	digest, err := e.StateDigest(ctx)
	must(t, err)
	// Make it look like a projection of an older version: no index, no
	// mark, flushed, and one more record in the log to replay.
	must(t, e.Checkpoint(ctx))
	must(t, scan(e.db, []byte{tChanged}, func(k, _ []byte) error { return e.db.Delete(k, pebble.NoSync) }))
	must(t, e.db.Delete(keyChangeIndex, pebble.NoSync))
	must(t, e.db.Flush())
	if err := e.Check(ctx); err == nil {
		t.Fatal("Check passed without a change index")
	}
	if d, err := e.StateDigest(ctx); err != nil || d != digest {
		t.Fatalf("state digest without the index %s (%v), want %s", d, err, digest)
	}
	must(t, e.Close())
	r.e = openTest(t, r.fs, "data")
	e = r.e
	must(t, e.Check(ctx))
	ch, err := e.ChangesSince(ctx, acct, inbox, mark)
	must(t, err)
	if got := changedStrings(ch.Changed); !slices.Equal(got, changesByScan(t, e, acct, inbox, mark)) || len(got) != 2 {
		t.Fatalf("after the build: %v", got)
	}
	_, err = e.StoreFlags(ctx, acct, inbox, []uint64{items[2].ID}, FlagsAdd, []string{`\Seen`}, 0)
	must(t, err)
	ch, err = e.ChangesSince(ctx, acct, inbox, mark)
	must(t, err)
	if got := changedStrings(ch.Changed); !slices.Equal(got, changesByScan(t, e, acct, inbox, mark)) {
		t.Fatalf("after a change: %v", got)
	}
	must(t, e.Check(ctx))
}

// A MODSEQ older than the tombstones reach makes ChangesSince incomplete
// (the caller relists), and a rename with a new UIDVALIDITY does too.
func TestChangesSinceIncomplete(t *testing.T) {
	r := newModseqRig(t)
	e, acct := r.e, r.acct
	f, err := e.CreateFolder(ctx, acct, "F", "")
	must(t, err)
	items, errs := e.AppendMany(ctx, acct, f.ID, manyMsgs("i", 4, 0), event.AddAppended)
	for _, err := range errs {
		must(t, err)
	}
	mark := r.folder(f.ID).HighestModSeq
	ch, err := e.ChangesSince(ctx, acct, f.ID, mark)
	must(t, err)
	if !ch.Complete || len(ch.Changed) != 0 || len(ch.Vanished) != 0 {
		t.Fatalf("nothing changed: %+v", ch)
	}
	_, err = e.Expunge(ctx, acct, f.ID, []uint64{items[0].ID})
	must(t, err)
	must(t, e.RenameFolder(ctx, acct, f.ID, "G"))
	ch, err = e.ChangesSince(ctx, acct, f.ID, mark)
	must(t, err)
	if r.folder(f.ID).UIDValidity != f.UIDValidity {
		if ch.Complete {
			t.Fatalf("new UIDVALIDITY, yet complete: %+v", ch)
		}
	} else if !ch.Complete || fmt.Sprint(ch.Vanished) != "[1]" {
		t.Fatalf("after expunge and rename: %+v", ch)
	}
}
