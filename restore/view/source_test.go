package view

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// TestSource drives the view as the IMAP layer does: route a name, open
// the folder, list, read, search, refuse changes, copy back.
func TestSource(t *testing.T) {
	const al = "alice@example.org"
	w := newWorld(t, al)
	m1 := w.add(al, "INBOX", `\Seen`)
	m2 := w.add(al, "INBOX")
	w.folder(al, "Work")
	w.add(al, "Work/Q4", `\Flagged`)
	w.r.Sync()
	at := w.tick()
	w.add(al, "INBOX") // after at: not in the view at at
	w.r.Sync()
	w.tick()
	svc := service(w.r, nil)
	rt := svc.Router()
	acct := w.ids[al]
	if src, err := rt.Route(ctx, acct, "INBOX"); src != nil || err != nil {
		t.Fatalf("a live name routed to the view: %v %v", src, err)
	}
	name := "Backup/" + at.UTC().Format(time.RFC3339Nano) + "/INBOX"
	src, err := rt.Route(ctx, acct, name)
	if err != nil || src == nil {
		t.Fatalf("route %s: %v", name, err)
	}
	if !src.ReadOnly() {
		t.Fatal("the view is not read-only")
	}
	f, err := src.Folder(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if f.Messages != 2 || f.Unseen != 1 || f.UIDNext != m2.UID+1 || f.UIDValidity == 0 || f.Size != m1.Size+m2.Size {
		t.Fatalf("folder %+v", f)
	}
	items, err := src.Items(ctx, f.ID)
	if err != nil || len(items) != 2 || items[0].ID != m1.ID || items[0].UID != m1.UID || items[1].ID != m2.ID {
		t.Fatalf("items %+v %v", items, err)
	}
	rc, size, err := src.OpenBlob(ctx, m2.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	live, _, _ := w.r.Eng.OpenBlob(ctx, acct, m2.ID)
	lb, _ := io.ReadAll(live)
	live.Close()
	if string(b) != string(lb) || size != int64(len(lb)) {
		t.Fatal("bytes through the source differ from the live message")
	}
	ids, err := src.Search(ctx, f.ID, &engine.SearchCriteria{NotFlags: []string{`\Seen`}})
	if err != nil || len(ids) != 1 || ids[0] != m2.ID {
		t.Fatalf("search UNSEEN: %v %v", ids, err)
	}
	if ch, err := src.ChangedSince(ctx, f.ID, 1); err != nil || len(ch) != 0 {
		t.Fatalf("changed since 1: %v %v", ch, err)
	}
	if _, err := src.StoreFlags(ctx, f.ID, []uint64{m1.ID}, engine.FlagsAdd, []string{`\Deleted`}, engine.StoreOptions{}); !errors.Is(err, engine.ErrReadOnly) {
		t.Fatalf("store: %v", err)
	}
	if _, err := src.Expunge(ctx, f.ID, []uint64{m1.ID}); !errors.Is(err, engine.ErrReadOnly) {
		t.Fatalf("expunge: %v", err)
	}
	work := w.folder(al, "Work")
	to, err := w.r.Eng.GetFolder(ctx, acct, work)
	if err != nil {
		t.Fatal(err)
	}
	made, err := src.Copy(ctx, f.ID, []uint64{m2.ID, m1.ID}, to)
	if err != nil || len(made) != 2 || made[0].Folder != work || made[0].Digest != m2.Digest || made[1].Digest != m1.Digest {
		t.Fatalf("copy: %+v %v", made, err)
	}
	made, err = src.Move(ctx, f.ID, []uint64{m1.ID}, to)
	if err != nil || len(made) != 1 {
		t.Fatalf("move: %+v %v", made, err)
	}
	if got, _ := w.r.Eng.ListItems(ctx, acct, work); len(got) != 3 {
		t.Fatalf("Work holds %d items after copy and move", len(got))
	}
	// Names that are not selectable, or folders alice did not have then.
	for _, n := range []string{"Backup", "Backup/" + at.UTC().Format("2006-01-02"), "Backup/2025-03-01/Nope", "Backup/1999-01-01/INBOX"} {
		if _, err := src.Folder(ctx, n); err == nil {
			t.Errorf("folder %q opened", n)
		}
	}
	if _, err := src.Folder(ctx, "Backup/2025-03-01/Nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("a folder alice never had: %v", err)
	}
	// A USER+at=TIME session: live names at that time.
	a, err := svc.Account(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	atSrc, err := a.SourceAt(at)
	if err != nil {
		t.Fatal(err)
	}
	if f2, err := atSrc.Folder(ctx, "inbox"); err != nil || f2.Messages != 2 {
		t.Fatalf("INBOX at %s: %+v %v", stamp(at), f2, err)
	}
	if f3, err := atSrc.Folder(ctx, "Work/Q4"); err != nil || f3.Messages != 1 {
		t.Fatalf("Work/Q4: %+v %v", f3, err)
	}
	if _, err := a.SourceAt(at.Add(time.Hour)); !errors.Is(err, ErrFuture) {
		t.Fatalf("source in the future: %v", err)
	}
	// The class-of-service switch closes the router.
	w.must(w.r.Eng.CreateCOS(ctx, event.COS{Name: "noview", Backup: true, BackupViewOff: true}))
	cos := "noview"
	_, err = w.r.Eng.ModifyAccount(ctx, acct, engine.AccountChange{COS: &cos})
	w.must(err)
	if _, err := rt.Route(ctx, acct, name); !errors.Is(err, ErrDisabled) {
		t.Fatalf("route with the view off: %v", err)
	}
}
