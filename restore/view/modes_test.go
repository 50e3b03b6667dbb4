package view

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/restore"
	"github.com/tidemark/tidemark/restore/internal/oracle"
)

// world is a small deterministic account history on a rig.
type world struct {
	t   *testing.T
	r   *oracle.Rig
	n   int
	ids map[string]uint64
}

func newWorld(t *testing.T, accounts ...string) *world {
	w := &world{t: t, r: oracle.NewRig(t, vfs.NewMem(), "w", nil), ids: map[string]uint64{}}
	for _, addr := range accounts {
		w.tick()
		a, err := w.r.Eng.CreateAccount(ctx, engine.AccountSpec{Address: addr, Password: "pw"})
		w.must(err)
		w.ids[addr] = a.ID
	}
	return w
}

func (w *world) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) tick() time.Time { return w.r.Clk.Advance(time.Second) }

func (w *world) folder(addr, path string) uint64 {
	w.t.Helper()
	f, err := w.r.Eng.FolderByPath(ctx, w.ids[addr], path)
	if errors.Is(err, engine.ErrNotFound) {
		f, err = w.r.Eng.CreateFolder(ctx, w.ids[addr], path, "")
	}
	w.must(err)
	return f.ID
}

func (w *world) add(addr, path string, flags ...string) engine.Item {
	w.t.Helper()
	w.n++
	w.tick()
	body := fmt.Sprintf("From: s@example.net\r\nTo: %s\r\nSubject: message %d\r\n\r\nbody %d\r\n", addr, w.n, w.n)
	it, err := w.r.Eng.Append(ctx, w.ids[addr], w.folder(addr, path), []byte(body), flags, w.r.Clk.Now().Add(-time.Hour))
	w.must(err)
	return it
}

// TestCopyBackEqualsRestoreItem copies messages of a view folder (a day's,
// and Deleted) back into live folders and restores the same items with
// restore item: the same bytes, flags and dates, restore events that the
// scanner backs up, beyond the quota.
func TestCopyBackEqualsRestoreItem(t *testing.T) {
	r := oracle.NewRig(t, vfs.NewMem(), "c", nil)
	h := &oracle.History{R: r, Rnd: rand.New(rand.NewPCG(91, 2))}
	h.Run("src@example.org", 90, false)
	r.Sync()
	r.Clk.Advance(time.Second)
	svc := service(r, nil)
	a, err := svc.Account(ctx, h.Acct)
	if err != nil {
		t.Fatal(err)
	}
	// A quota the account is already over: restores ignore it.
	q := int64(1)
	if _, err := r.Eng.ModifyAccount(ctx, h.Acct, engine.AccountChange{Quota: &q}); err != nil {
		t.Fatal(err)
	}
	rs := restore.New(r.Eng, r.Cat, r.Repo, &restore.Options{Now: r.Clk.Now, Logger: oracle.Quiet, Location: time.UTC})
	at := h.Snaps[len(h.Snaps)*2/3].At
	var boxes []*Mailbox
	fs, err := a.Folders(ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		box, err := a.Open(ctx, at, f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if len(box.Messages) > 0 {
			boxes = append(boxes, box)
		}
	}
	del, err := a.Deleted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(del.Messages) == 0 || len(boxes) == 0 {
		t.Fatalf("history left %d non-empty folders, %d deleted messages", len(boxes), len(del.Messages))
	}
	boxes = append(boxes, del)
	for i, box := range boxes {
		var uids []uint32
		var refs []restore.ItemRef
		for j, m := range box.Messages {
			if j%2 == 0 {
				uids = append(uids, m.UID)
			}
		}
		viaView, viaItem := fmt.Sprintf("Back/view%d", i), fmt.Sprintf("Back/item%d", i)
		rep, made, err := a.CopyBack(ctx, box, uids, viaView)
		if err != nil || rep.Incomplete() != nil || len(made) != len(uids) {
			t.Fatalf("copy back %d from %q: %v %v %s", len(uids), box.Path, err, rep.Incomplete(), rep)
		}
		for _, uid := range uids {
			j, _ := box.Find(uid)
			m := box.Messages[j]
			at := at
			if box.Deleted {
				at = m.DeletedAt
			}
			refs = append(refs, restore.ItemRef{Item: m.Item, At: at})
			rep, err := rs.Item(ctx, h.Acct, m.Item, at, viaItem)
			if err != nil || rep.Incomplete() != nil {
				t.Fatalf("restore item %d: %v %s", m.Item, err, rep)
			}
		}
		got := oracle.Dump(t, r.Eng, h.Acct)
		if d := oracle.Diff(oracle.Mailbox{"x": got[viaItem]}, oracle.Mailbox{"x": got[viaView]}); d != "" {
			t.Fatalf("from %q: copy-back and restore item differ: %s", box.Path, d)
		}
		for k, it := range made {
			if it.ID == 0 || slices.Contains(it.Flags, `\Deleted`) {
				t.Fatalf("made item %d: %+v", k, it)
			}
		}
		// The original bytes, flags less \Deleted.
		for k, m := range got[viaView] {
			j, _ := box.Find(uids[k])
			want := mailboxMsgs(t, a, &Mailbox{Messages: box.Messages[j : j+1], UIDNext: box.Messages[j].UID + 1})[0].Without(`\Deleted`)
			if m.Key() != want.Key() {
				t.Fatalf("from %q uid %d: restored %s, view showed %s", box.Path, uids[k], m.Key(), want.Key())
			}
		}
	}
	// Restore events, recorded and backed up.
	r.Sync()
	last, err := r.Eng.FolderByPath(ctx, h.Acct, fmt.Sprintf("Back/view%d", len(boxes)-1))
	if err != nil {
		t.Fatal(err)
	}
	items, _ := r.Eng.ListItems(ctx, h.Acct, last.ID)
	for _, it := range items {
		if _, err := r.Cat.ItemVersions(ctx, h.Acct, it.ID); err != nil {
			t.Fatalf("restored item %d not in the backup: %v", it.ID, err)
		}
	}
	if _, _, err := a.CopyBack(ctx, del, []uint32{del.UIDNext}, "INBOX"); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("copy back of a UID the folder lacks: %v", err)
	}
}

// TestDeletedFolder expunges from INBOX, moves to Trash and empties it:
// Deleted lists exactly the expunged messages, newest deletion first,
// without \Deleted, with their bytes; a move alone lists nothing; a new
// deletion renumbers under a new UIDVALIDITY.
func TestDeletedFolder(t *testing.T) {
	w := newWorld(t, "alice@example.org")
	const al = "alice@example.org"
	var in []engine.Item
	for i := 0; i < 6; i++ {
		in = append(in, w.add(al, "INBOX", `\Seen`))
	}
	inbox, trash := w.folder(al, "INBOX"), w.folder(al, "Trash")
	w.tick()
	_, err := w.r.Eng.StoreFlags(ctx, w.ids[al], inbox, []uint64{in[0].ID, in[1].ID}, engine.FlagsAdd, []string{`\Deleted`}, 0)
	w.must(err)
	w.tick()
	_, err = w.r.Eng.Expunge(ctx, w.ids[al], inbox, []uint64{in[0].ID, in[1].ID})
	w.must(err)
	w.tick()
	_, err = w.r.Eng.Move(ctx, w.ids[al], inbox, []uint64{in[2].ID, in[3].ID}, trash)
	w.must(err)
	w.r.Sync()
	w.tick()
	svc := service(w.r, nil)
	a, err := svc.Account(ctx, w.ids[al])
	w.must(err)
	del, err := a.Deleted(ctx)
	w.must(err)
	if got := itemIDs(del); !slices.Equal(got, []uint64{in[1].ID, in[0].ID}) {
		t.Fatalf("after expunge: Deleted holds %v", got)
	}
	v1 := del.UIDValidity
	firstExpunge := w.r.LastTime()
	// Emptying Trash: the two moved messages, deleted together after the others.
	w.tick()
	_, err = w.r.Eng.Expunge(ctx, w.ids[al], trash, []uint64{in[2].ID, in[3].ID})
	w.must(err)
	trashExpunge := w.r.LastTime()
	w.r.Sync()
	w.tick()
	del, err = a.Deleted(ctx)
	w.must(err)
	if got := itemIDs(del); !slices.Equal(got, []uint64{in[3].ID, in[2].ID, in[1].ID, in[0].ID}) {
		t.Fatalf("after emptying Trash: Deleted holds %v", got)
	}
	if del.UIDValidity == v1 {
		t.Fatal("a new deletion kept the UIDVALIDITY")
	}
	for i, m := range del.Messages {
		if m.UID != uint32(i+1) || slices.Contains(m.Flags, `\Deleted`) || !slices.Contains(m.Flags, `\Seen`) {
			t.Fatalf("message %d: %+v", i, m)
		}
		want := "INBOX"
		if m.Item == in[2].ID || m.Item == in[3].ID {
			want = "Trash"
		}
		if m.Folder != want {
			t.Fatalf("item %d deleted from %q, want %q", m.Item, m.Folder, want)
		}
		rc, err := a.ReadMessage(ctx, m)
		w.must(err)
		rc.Close()
	}
	// The same state opened again: the same numbering.
	again, err := service(w.r, nil).Account(ctx, w.ids[al])
	w.must(err)
	d2, err := again.Deleted(ctx)
	w.must(err)
	if d2.UIDValidity != del.UIDValidity || !slices.Equal(itemIDs(d2), itemIDs(del)) {
		t.Fatal("Deleted opened twice differs")
	}
	// A retention window that starts after the first expunge leaves only Trash's.
	short, err := service(w.r, &Options{Retention: w.r.Clk.Now().Sub(firstExpunge.Add(trashExpunge.Sub(firstExpunge) / 2))}).Account(ctx, w.ids[al])
	w.must(err)
	d3, err := short.Deleted(ctx)
	w.must(err)
	if got := itemIDs(d3); !slices.Equal(got, []uint64{in[3].ID, in[2].ID}) {
		t.Fatalf("short window: Deleted holds %v", got)
	}
	if d3.UIDValidity != del.UIDValidity {
		t.Fatal("deletions aging out changed the UIDVALIDITY")
	}
}

func itemIDs(b *Mailbox) []uint64 {
	var out []uint64
	for _, m := range b.Messages {
		out = append(out, m.Item)
	}
	return out
}

// TestIsolationAndTimes: an account's view holds only its own mail, a copy
// of another account's message through it writes nothing, and times
// before the account, outside the window and in the future are refused
// by name; a class of service with the view off refuses it.
func TestIsolationAndTimes(t *testing.T) {
	const al, bo = "alice@example.org", "bob@example.org"
	w := newWorld(t, al)
	created := w.r.Clk.Now()
	w.add(al, "INBOX")
	w.r.Clk.Advance(time.Hour)
	w.ids[bo] = 0
	b, err := w.r.Eng.CreateAccount(ctx, engine.AccountSpec{Address: bo, Password: "pw"})
	w.must(err)
	w.ids[bo] = b.ID
	bm := w.add(bo, "INBOX")
	w.add(al, "Work")
	w.r.Sync()
	w.tick()
	svc := service(w.r, &Options{Retention: 30 * time.Minute})
	aa, err := svc.Account(ctx, w.ids[al])
	w.must(err)
	ba, err := svc.Account(ctx, w.ids[bo])
	w.must(err)
	now := w.r.Clk.Now()
	box, err := aa.Open(ctx, now, "INBOX")
	w.must(err)
	for _, m := range box.Messages {
		if m.Digest == bm.Digest {
			t.Fatal("alice's view holds bob's message")
		}
	}
	bbox, err := ba.Open(ctx, now, "INBOX")
	w.must(err)
	before := oracle.Dump(t, w.r.Eng, w.ids[al])
	if _, _, err := aa.CopyBack(ctx, bbox, []uint32{bbox.Messages[0].UID}, "INBOX"); !errors.Is(err, ErrNoFolder) {
		t.Fatalf("copy of bob's message through alice's view: %v", err)
	}
	if d := oracle.Diff(before, oracle.Dump(t, w.r.Eng, w.ids[al])); d != "" {
		t.Fatalf("a refused copy changed alice's mailbox: %s", d)
	}
	for _, tc := range []struct {
		at   time.Time
		want error
	}{
		{created.Add(-time.Second), ErrBeforeAccount},
		{created.Add(time.Minute), ErrOutsideWindow},
		{now.Add(time.Second), ErrFuture},
	} {
		if _, err := aa.Open(ctx, tc.at, "INBOX"); !errors.Is(err, tc.want) {
			t.Errorf("open at %s: %v, want %v", stamp(tc.at), err, tc.want)
		}
		if _, err := aa.Folders(ctx, tc.at); !errors.Is(err, tc.want) {
			t.Errorf("folders at %s: %v, want %v", stamp(tc.at), err, tc.want)
		}
	}
	if _, err := aa.Open(ctx, now, "Nope"); !errors.Is(err, ErrNoFolder) {
		t.Errorf("open of a folder alice never had: %v", err)
	}
	// Bob's account is younger than the window: "first" is its creation.
	p, _, _, err := func() (time.Time, bool, bool, error) {
		_, pt, ok, err := ParseLogin(bo+"+at=first", nil)
		if err != nil || !ok {
			return time.Time{}, false, ok, err
		}
		at, err := ba.Resolve(pt)
		return at, true, ok, err
	}()
	w.must(err)
	if p.Before(b.Created) {
		t.Fatalf("first resolved to %s, before bob's creation %s", stamp(p), stamp(b.Created))
	}
	// The class of service switch.
	w.must(w.r.Eng.CreateCOS(ctx, event.COS{Name: "noview", Backup: true, BackupViewOff: true}))
	cos := "noview"
	_, err = w.r.Eng.ModifyAccount(ctx, w.ids[al], engine.AccountChange{COS: &cos})
	w.must(err)
	if _, err := svc.Account(ctx, w.ids[al]); !errors.Is(err, ErrDisabled) {
		t.Fatalf("view with BackupViewOff: %v", err)
	}
	if _, err := svc.Account(ctx, w.ids[bo]); err != nil {
		t.Fatalf("bob's class is unchanged: %v", err)
	}
}
