package engine

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/engine/event"
)

// modseqRig is an engine on a memory FS that can be closed and rebuilt
// from its redo log alone.
type modseqRig struct {
	t    *testing.T
	fs   vfs.FS
	e    *Engine
	acct uint64
}

func newModseqRig(t *testing.T) *modseqRig {
	fs := newMem()
	e := openTest(t, fs, "data")
	must(t, e.CreateDomain(ctx, "example.org"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "alice@example.org", Password: "secret"})
	must(t, err)
	r := &modseqRig{t: t, fs: fs, e: e, acct: a.ID}
	t.Cleanup(func() { r.e.Close() })
	return r
}

// replay closes the engine, removes the projection and opens it again,
// so every table is rebuilt from the redo log.
func (r *modseqRig) replay() {
	r.t.Helper()
	must(r.t, r.e.Close())
	must(r.t, r.fs.RemoveAll("data/meta"))
	r.e = openTest(r.t, r.fs, "data")
}

func (r *modseqRig) folder(id uint64) Folder {
	r.t.Helper()
	f, err := r.e.GetFolder(ctx, r.acct, id)
	must(r.t, err)
	return f
}

// hms checks a folder's HIGHESTMODSEQ: want, and not below any item's
// MODSEQ (RFC 7162 section 3.1.2).
func (r *modseqRig) hms(f uint64, want uint64, what string) {
	r.t.Helper()
	got := r.folder(f).HighestModSeq
	if got != want {
		r.t.Errorf("%s: HIGHESTMODSEQ of folder %d = %d, want %d", what, f, got, want)
	}
	items, err := r.e.ListItems(ctx, r.acct, f)
	must(r.t, err)
	for _, it := range items {
		if it.ModSeq > got {
			r.t.Errorf("%s: item %d has MODSEQ %d above HIGHESTMODSEQ %d", what, it.ID, it.ModSeq, got)
		}
	}
}

func (r *modseqRig) vanished(f, since uint64, uids []UIDRange) string {
	r.t.Helper()
	got, err := r.e.VanishedSince(ctx, r.acct, f, since, uids)
	must(r.t, err)
	return fmt.Sprint(got)
}

// Every kind of change moves HIGHESTMODSEQ of the folders it touches to
// its record, and only those; replay gives the same values.
func TestHighestModSeqEveryChange(t *testing.T) {
	r := newModseqRig(t)
	e, acct := r.e, r.acct
	inbox := inboxOf(t, e, acct).ID
	bf, err := e.CreateFolder(ctx, acct, "B", "")
	must(t, err)
	b := bf.ID
	r.hms(b, bf.HighestModSeq, "create")

	x, err := e.Append(ctx, acct, inbox, msg("x", "1"), nil, time.Time{})
	must(t, err)
	r.hms(inbox, x.ModSeq, "append")
	res, err := e.Deliver(ctx, Delivery{Recipients: []uint64{acct}, Body: msg("y", "2")})
	must(t, err)
	y := res[0].Item
	r.hms(inbox, y.ModSeq, "deliver")

	ch, err := e.StoreFlags(ctx, acct, inbox, []uint64{x.ID}, FlagsAdd, []string{`\Seen`}, 0)
	must(t, err)
	r.hms(inbox, ch[0].ModSeq, "flags")
	before := e.AppliedLSN()
	ch, err = e.StoreFlags(ctx, acct, inbox, []uint64{x.ID}, FlagsAdd, []string{`\Seen`}, 0)
	must(t, err)
	if len(ch) != 0 || e.AppliedLSN() != before {
		t.Fatalf("a store that changes nothing wrote a record: %v", ch)
	}
	r.hms(inbox, before, "flags unchanged")

	inboxHMS := r.folder(inbox).HighestModSeq
	cp, err := e.Copy(ctx, acct, inbox, []uint64{x.ID}, b)
	must(t, err)
	r.hms(b, cp[0].ModSeq, "copy: destination")
	r.hms(inbox, inboxHMS, "copy: source untouched")

	mv, err := e.Move(ctx, acct, inbox, []uint64{y.ID}, b)
	must(t, err)
	r.hms(b, mv[0].ModSeq, "move: destination")
	r.hms(inbox, mv[0].ModSeq, "move: source")

	same, err := e.Move(ctx, acct, inbox, []uint64{x.ID}, inbox)
	must(t, err)
	r.hms(inbox, same[0].ModSeq, "move within the folder")

	_, err = e.Expunge(ctx, acct, b, []uint64{cp[0].ID})
	must(t, err)
	r.hms(b, e.AppliedLSN(), "expunge")

	restored, errs := e.AppendMany(ctx, acct, b, manyMsgs("r", 3, 0), event.AddRestored)
	for _, err := range errs {
		must(t, err)
	}
	r.hms(b, restored[2].ModSeq, "restore")

	must(t, e.RenameFolder(ctx, acct, b, "C"))
	r.hms(b, e.AppliedLSN(), "rename")

	want := map[uint64]uint64{inbox: r.folder(inbox).HighestModSeq, b: r.folder(b).HighestModSeq}
	digest, err := e.StateDigest(ctx)
	must(t, err)
	r.replay()
	for f, h := range want {
		r.hms(f, h, "after replay")
	}
	if d, err := r.e.StateDigest(ctx); err != nil || d != digest {
		t.Fatalf("state digest after replay %s (%v), want %s", d, err, digest)
	}
	must(t, r.e.Check(ctx))
}

func TestVanishedSince(t *testing.T) {
	r := newModseqRig(t)
	e, acct := r.e, r.acct
	inbox := inboxOf(t, e, acct).ID
	other, err := e.CreateFolder(ctx, acct, "Other", "")
	must(t, err)
	items, errs := e.AppendMany(ctx, acct, inbox, manyMsgs("v", 10, 0), event.AddAppended)
	for _, err := range errs {
		must(t, err)
	}
	id := func(uid int) uint64 { return items[uid-1].ID }
	ms0 := r.folder(inbox).HighestModSeq

	_, err = e.Expunge(ctx, acct, inbox, []uint64{id(2), id(3)})
	must(t, err)
	ms1 := r.folder(inbox).HighestModSeq
	_, err = e.Move(ctx, acct, inbox, []uint64{id(5)}, other.ID)
	must(t, err)
	ms2 := r.folder(inbox).HighestModSeq
	_, err = e.Copy(ctx, acct, inbox, []uint64{id(6)}, other.ID) // nothing vanishes
	must(t, err)
	_, err = e.StoreFlags(ctx, acct, inbox, []uint64{id(1)}, FlagsAdd, []string{`\Deleted`}, 0)
	must(t, err)
	_, err = e.Move(ctx, acct, inbox, []uint64{id(7)}, inbox) // UID 7 becomes 11
	must(t, err)
	ms3 := r.folder(inbox).HighestModSeq
	_, err = e.Expunge(ctx, acct, inbox, nil) // UID 1, \Deleted
	must(t, err)
	ms4 := r.folder(inbox).HighestModSeq

	check := func(when string) {
		t.Helper()
		cases := []struct {
			since uint64
			uids  []UIDRange
			want  string
		}{
			{ms0, nil, "[1 2 3 5 7]"},
			{ms1 - 1, nil, "[1 2 3 5 7]"},
			{ms1, nil, "[1 5 7]"},
			{ms2, nil, "[1 7]"},
			{ms3, nil, "[1]"},
			{ms4, nil, "[]"},
			{ms0, []UIDRange{{2, 4}}, "[2 3]"},
			{ms0, []UIDRange{{6, 0}}, "[7]"},
			{ms0, []UIDRange{{1, 1}, {5, 5}, {5, 7}}, "[1 5 7]"},
			{ms0, []UIDRange{{20, 30}}, "[]"},
			{1 << 62, nil, "[]"},
		}
		for _, c := range cases {
			if got := r.vanished(inbox, c.since, c.uids); got != c.want {
				t.Errorf("%s: VanishedSince(%d, %v) = %s, want %s", when, c.since, c.uids, got, c.want)
			}
		}
		if got := r.vanished(other.ID, 0, nil); got != "[]" {
			t.Errorf("%s: destination of move and copy has vanished %s", when, got)
		}
	}
	check("live")
	r.replay()
	e = r.e
	check("after replay")

	// A new UIDVALIDITY drops the tombstones: a client asking with the
	// old UIDs gets every UID of its range that is not there.
	must(t, e.RenameFolder(ctx, acct, other.ID, "Renamed"))
	o := r.folder(other.ID)
	if o.UIDNext != 3 {
		t.Fatalf("UIDNEXT %d", o.UIDNext)
	}
	_, err = e.Expunge(ctx, acct, other.ID, nil)
	must(t, err)
	if got := r.vanished(other.ID, o.HighestModSeq, nil); got != "[]" {
		t.Errorf("after rename and an empty expunge: %s", got)
	}
	if got := r.vanished(other.ID, ms0, nil); got != "[]" {
		t.Errorf("older than the rename, both UIDs still there: %s", got)
	}
	otherItems, err := e.ListItems(ctx, acct, other.ID)
	must(t, err)
	_, err = e.Expunge(ctx, acct, other.ID, []uint64{otherItems[0].ID})
	must(t, err)
	if got := r.vanished(other.ID, ms0, nil); got != "[1]" {
		t.Errorf("older than the rename: %s, want the missing UID 1", got)
	}

	// Deleting a folder drops its tombstones.
	must(t, e.DeleteFolder(ctx, acct, other.ID))
	n := 0
	must(t, scan(e.db, vanishedPrefix(acct, other.ID), func(_, _ []byte) error { n++; return nil }))
	if n != 0 {
		t.Fatalf("%d tombstones left of a deleted folder", n)
	}
	_, err = e.VanishedSince(ctx, acct, other.ID, 0, nil)
	wantErr(t, err, ErrNotFound)
	must(t, e.Check(ctx))
}

// Beyond maxTombstones the oldest go; a client asking from before them is
// answered with every missing UID of its range, and replay ages alike.
func TestVanishedAgeing(t *testing.T) {
	old := maxTombstones
	maxTombstones = 8
	defer func() { maxTombstones = old }()
	r := newModseqRig(t)
	e, acct := r.e, r.acct
	inbox := inboxOf(t, e, acct).ID
	items, errs := e.AppendMany(ctx, acct, inbox, manyMsgs("a", 20, 0), event.AddAppended)
	for _, err := range errs {
		must(t, err)
	}
	ms0 := r.folder(inbox).HighestModSeq
	var after []uint64 // HIGHESTMODSEQ after expunging UID i+1
	for i := 0; i < 12; i++ {
		_, err := e.Expunge(ctx, acct, inbox, []uint64{items[i].ID})
		must(t, err)
		after = append(after, r.folder(inbox).HighestModSeq)
	}
	// The 9th expunge went beyond 8: the oldest 3 were dropped (6
	// kept); the 12th again: 3 more.
	rec, err := loadFolder(e.db, acct, inbox)
	must(t, err)
	if rec.Vanished != 6 || rec.VanishedFloor != after[5] {
		t.Fatalf("Vanished %d floor %d, want 6 and %d", rec.Vanished, rec.VanishedFloor, after[5])
	}
	check := func(when string) {
		t.Helper()
		// Exact from the floor on.
		if got := r.vanished(inbox, after[5], nil); got != "[7 8 9 10 11 12]" {
			t.Errorf("%s: since the floor: %s", when, got)
		}
		if got := r.vanished(inbox, after[8], nil); got != "[10 11 12]" {
			t.Errorf("%s: since the 9th: %s", when, got)
		}
		// Older: every UID that is not there.
		if got := r.vanished(inbox, ms0, []UIDRange{{1, 5}, {15, 25}}); got != "[1 2 3 4 5]" {
			t.Errorf("%s: older than the floor: %s", when, got)
		}
		if got := r.vanished(inbox, after[1], nil); got != "[1 2 3 4 5 6 7 8 9 10 11 12]" {
			t.Errorf("%s: older than the floor, every UID: %s", when, got)
		}
	}
	check("live")
	r.replay()
	rec2, err := loadFolder(r.e.db, acct, inbox)
	must(t, err)
	if rec2 != rec {
		t.Fatalf("after replay %+v, want %+v", rec2, rec)
	}
	check("after replay")
}

// A projection made before tombstones were kept answers, for any older
// MODSEQ, with every missing UID; expunges after its upgrade are exact.
func TestVanishedUpgradedProjection(t *testing.T) {
	r := newModseqRig(t)
	e, acct := r.e, r.acct
	inbox := inboxOf(t, e, acct).ID
	items, errs := e.AppendMany(ctx, acct, inbox, manyMsgs("u", 6, 0), event.AddAppended)
	for _, err := range errs {
		must(t, err)
	}
	ms0 := r.folder(inbox).HighestModSeq
	_, err := e.Expunge(ctx, acct, inbox, []uint64{items[1].ID})
	must(t, err)
	// Make it look like a projection of an older version: no
	// tombstones, no "vanishedfrom", no counts in the folder record.
	must(t, e.Checkpoint(ctx))
	must(t, scan(e.db, []byte{tVanished}, func(k, _ []byte) error { return e.db.Delete(k, pebble.NoSync) }))
	must(t, e.db.Delete(keyVanishedFrom, pebble.NoSync))
	rec, err := loadFolder(e.db, acct, inbox)
	must(t, err)
	rec.Vanished = 0
	must(t, e.db.Set(folderKey(acct, inbox), encVal(rec), pebble.NoSync))
	must(t, e.Close())
	r.e = openTest(t, r.fs, "data")
	e = r.e
	if got := r.vanished(inbox, ms0, nil); got != "[2]" {
		t.Errorf("upgraded, older MODSEQ: %s", got)
	}
	ms1 := r.folder(inbox).HighestModSeq
	_, err = e.Expunge(ctx, acct, inbox, []uint64{items[3].ID})
	must(t, err)
	if got := r.vanished(inbox, ms1, nil); got != "[4]" {
		t.Errorf("upgraded, since the upgrade: %s", got)
	}
}

// STORE (UNCHANGEDSINCE) per RFC 7162: items changed after the given
// MODSEQ are reported and left alone, the others are changed; items that
// are gone are reported, not an error.
func TestStoreFlagsCond(t *testing.T) {
	e, a := newEngine(t)
	inbox := inboxOf(t, e, a.ID).ID
	items, errs := e.AppendMany(ctx, a.ID, inbox, manyMsgs("c", 5, 0), event.AddAppended)
	for _, err := range errs {
		must(t, err)
	}
	base := items[4].ModSeq
	ids := func(its []Item) []uint64 {
		var out []uint64
		for _, it := range its {
			out = append(out, it.ID)
		}
		return out
	}
	_, err := e.StoreFlags(ctx, a.ID, inbox, []uint64{items[1].ID}, FlagsAdd, []string{"$late"}, 0)
	must(t, err)
	_, err = e.StoreFlags(ctx, a.ID, inbox, []uint64{items[3].ID}, FlagsAdd, []string{`\Seen`}, 0)
	must(t, err)
	_, err = e.Expunge(ctx, a.ID, inbox, []uint64{items[4].ID})
	must(t, err)
	res, err := e.StoreFlagsCond(ctx, a.ID, inbox,
		[]uint64{items[0].ID, items[1].ID, items[2].ID, items[3].ID, items[4].ID, items[0].ID},
		FlagsAdd, []string{`\Seen`}, StoreOptions{Conditional: true, UnchangedSince: base})
	must(t, err)
	if fmt.Sprint(ids(res.Changed)) != fmt.Sprint([]uint64{items[0].ID, items[2].ID}) ||
		fmt.Sprint(ids(res.Modified)) != fmt.Sprint([]uint64{items[1].ID, items[3].ID}) ||
		len(res.Unchanged) != 0 ||
		fmt.Sprint(res.Missing) != fmt.Sprint([]uint64{items[4].ID}) {
		t.Fatalf("changed %v modified %v unchanged %v missing %v", ids(res.Changed), ids(res.Modified), ids(res.Unchanged), res.Missing)
	}
	if res.Changed[0].ModSeq != e.AppliedLSN() || res.Changed[1].ModSeq != e.AppliedLSN() {
		t.Fatalf("changed items' MODSEQ %d %d, want %d", res.Changed[0].ModSeq, res.Changed[1].ModSeq, e.AppliedLSN())
	}
	late, err := e.GetItem(ctx, a.ID, items[1].ID)
	must(t, err)
	if slices.Contains(late.Flags, `\Seen`) {
		t.Fatal("a conflicting item was changed")
	}
	// Passed the test, already so: unchanged, nothing written.
	lsn := e.AppliedLSN()
	res, err = e.StoreFlagsCond(ctx, a.ID, inbox, []uint64{items[0].ID}, FlagsAdd, []string{`\Seen`},
		StoreOptions{Conditional: true, UnchangedSince: lsn})
	must(t, err)
	if len(res.Unchanged) != 1 || len(res.Changed) != 0 || e.AppliedLSN() != lsn {
		t.Fatalf("no-op store: %+v", res)
	}
	// UNCHANGEDSINCE 0 fails for every message.
	res, err = e.StoreFlagsCond(ctx, a.ID, inbox, []uint64{items[0].ID, items[2].ID}, FlagsRemove, []string{`\Seen`},
		StoreOptions{Conditional: true})
	must(t, err)
	if len(res.Modified) != 2 || len(res.Changed) != 0 {
		t.Fatalf("UNCHANGEDSINCE 0: %+v", res)
	}
	// Unconditional: every existing item.
	res, err = e.StoreFlagsCond(ctx, a.ID, inbox, []uint64{items[0].ID, items[1].ID, items[4].ID}, FlagsSet, nil, StoreOptions{})
	must(t, err)
	if len(res.Changed) != 2 || len(res.Modified) != 0 || len(res.Missing) != 1 {
		t.Fatalf("unconditional: %+v", res)
	}
	_, err = e.StoreFlagsCond(ctx, a.ID, 999, []uint64{items[0].ID}, FlagsSet, nil, StoreOptions{})
	wantErr(t, err, ErrNotFound)
	_, err = e.StoreFlagsCond(ctx, a.ID, inbox, []uint64{items[0].ID}, FlagsSet, []string{"bad flag"}, StoreOptions{})
	wantErr(t, err, ErrInvalid)

	// CHANGEDSINCE: exactly the items changed after the MODSEQ.
	ch, err := e.ChangedSince(ctx, a.ID, inbox, lsn)
	must(t, err)
	if fmt.Sprint(ids(ch)) != fmt.Sprint([]uint64{items[0].ID, items[1].ID}) {
		t.Fatalf("ChangedSince(%d) = %v", lsn, ids(ch))
	}
	ch, err = e.ChangedSince(ctx, a.ID, inbox, e.AppliedLSN())
	must(t, err)
	if len(ch) != 0 {
		t.Fatalf("ChangedSince(HIGHESTMODSEQ) = %v", ids(ch))
	}
}
