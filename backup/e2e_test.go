package backup_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/redolog"
)

// snap is the engine's view of the accounts right after one operation.
type snap struct {
	at    time.Time // between this operation's records and the next's
	what  string
	views map[uint64]accountView // absent: the account does not exist
}

func message(i int, size int) []byte {
	body := strings.Repeat(fmt.Sprintf("line %d of a test message body\r\n", i), size/32+1)
	return []byte(fmt.Sprintf("From: a@example.org\r\nTo: b@example.org\r\nSubject: m%d\r\n\r\n%s", i, body))
}

// workload runs every kind of change against h's engine, recording the
// engine's own view after each as the model the catalog must reproduce.
func workload(t *testing.T, h *harness) ([]snap, map[string]uint64) {
	ctx := context.Background()
	e := h.eng
	var snaps []snap
	ids := map[string]uint64{}
	record := func(what string) {
		at := h.clk.Now().Add(30 * time.Second)
		s := snap{at: at, what: what, views: map[uint64]accountView{}}
		for _, id := range ids {
			if _, err := e.GetAccount(ctx, id); err == nil {
				s.views[id] = engineView(t, e, id)
			}
		}
		snaps = append(snaps, s)
		h.clk.Add(time.Minute)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.CreateDomain(ctx, "example.org"))
	for _, name := range []string{"alice", "bob"} {
		a, err := e.CreateAccount(ctx, engine.AccountSpec{Address: name + "@example.org", Password: "pw"})
		must(err)
		ids[name] = a.ID
		record("create " + name)
	}
	alice, bob := ids["alice"], ids["bob"]
	inbox, err := e.FolderByPath(ctx, alice, "INBOX")
	must(err)
	var delivered []engine.Item
	for i := 0; i < 6; i++ {
		res, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{alice, bob}, Body: message(i, 200+i*400)})
		must(err)
		delivered = append(delivered, res[0].Item)
		record(fmt.Sprintf("deliver %d", i))
	}
	_, err = e.StoreFlags(ctx, alice, inbox.ID, []uint64{delivered[0].ID, delivered[1].ID}, engine.FlagsAdd, []string{`\Seen`, "$Work"}, 0)
	must(err)
	record("flag")
	proj, err := e.CreateFolder(ctx, alice, "Projects", "")
	must(err)
	sub, err := e.CreateFolder(ctx, alice, "Projects/2026", "")
	must(err)
	record("create folders")
	_, err = e.Move(ctx, alice, inbox.ID, []uint64{delivered[2].ID}, sub.ID)
	must(err)
	record("move")
	_, err = e.Copy(ctx, alice, inbox.ID, []uint64{delivered[3].ID, delivered[0].ID}, proj.ID)
	must(err)
	record("copy")
	_, err = e.StoreFlags(ctx, alice, inbox.ID, []uint64{delivered[4].ID}, engine.FlagsAdd, []string{`\Deleted`}, 0)
	must(err)
	_, err = e.Expunge(ctx, alice, inbox.ID, nil)
	must(err)
	record("expunge")
	must(e.RenameFolder(ctx, alice, proj.ID, "Archive"))
	record("rename parent")
	must(e.RenameFolder(ctx, alice, sub.ID, "Old"))
	record("rename child out")
	_, err = e.Append(ctx, alice, sub.ID, message(99, 70000), []string{`\Seen`}, h.clk.Now())
	must(err)
	record("append large")
	must(e.DeleteFolder(ctx, alice, proj.ID))
	record("delete folder")
	must(e.DeleteAccount(ctx, bob))
	record("delete bob")
	return snaps, ids
}

func TestEndToEndAsOf(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	snaps, ids := workload(t, h)
	h.waitShipped()
	check := func(c *catalog.Catalog, label string) {
		t.Helper()
		for i, s := range snaps {
			for name, id := range ids {
				want, exists := s.views[id]
				got, err := catalogView(t, c, id, s.at)
				if !exists {
					if !errors.Is(err, repository.ErrNotFound) {
						t.Errorf("%s: after %q: %s should not exist, got %v", label, s.what, name, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: after %q: %s: %v", label, s.what, name, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: after %q (#%d): %s\ngot  %v\nwant %v", label, s.what, i, name, got, want)
				}
			}
		}
	}
	check(h.cat, "live")

	// Deleted in a window: the expunged item and the folder's items.
	var expungeAt, deleteFolderAt time.Time
	for _, s := range snaps {
		switch s.what {
		case "expunge":
			expungeAt = s.at
		case "delete folder":
			deleteFolderAt = s.at
		}
	}
	del, err := h.cat.DeletedBetween(ctx, ids["alice"], expungeAt.Add(-time.Minute), expungeAt)
	if err != nil || len(del) != 1 || del[0].FolderPath != "INBOX" || !del[0].Deleted {
		t.Fatalf("DeletedBetween expunge: %+v, %v", del, err)
	}
	del, err = h.cat.DeletedBetween(ctx, ids["alice"], deleteFolderAt.Add(-time.Minute), deleteFolderAt)
	if err != nil || len(del) != 2 || del[0].FolderPath != "Archive" {
		t.Fatalf("DeletedBetween delete folder: %+v, %v", del, err)
	}
	gone, err := h.cat.DeletedAccounts(ctx)
	if err != nil || len(gone) != 1 || gone[0].Account.ID != ids["bob"] || !gone[0].Deleted {
		t.Fatalf("DeletedAccounts: %+v, %v", gone, err)
	}
	// Versions of the moved item: created, flagged? no: created, moved.
	all, err := h.cat.AccountAt(ctx, ids["alice"], snaps[len(snaps)-1].at)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range all.Items {
		raw, err := h.repo.ReadBlob(ctx, it.Digest)
		if err != nil || int64(len(raw)) != it.Size {
			t.Fatalf("blob of item %d: %d bytes, %v", it.ID, len(raw), err)
		}
	}

	// A SmartScan of an unchanged engine writes nothing.
	rep, err := h.sc.Scan(ctx, 0)
	if err != nil || rep.Changes != 0 || rep.Object != "" {
		t.Fatalf("scan of unchanged engine: %+v, %v", rep, err)
	}

	// The catalog is a pure function of the repository.
	fresh, err := catalog.Rebuild(ctx, h.repo, "rebuilt", vfs.NewMem())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	check(fresh, "rebuilt")
	a, _ := h.cat.Digest(ctx)
	b, _ := fresh.Digest(ctx)
	if a != b {
		t.Fatal("rebuilt catalog digest differs from the live one")
	}
	vr, err := maint.Verify(ctx, h.repo, h.cat, maint.VerifyOptions{ReadData: true})
	if err != nil || len(vr.Problems) != 0 {
		t.Fatalf("verify: %+v, %v", vr, err)
	}
	// Records come back in order with blobs stripped.
	var n, last uint64
	err = h.repo.Records(ctx, 0, 0, func(r redolog.Record) error {
		if r.LSN <= last {
			return fmt.Errorf("lsn %d after %d", r.LSN, last)
		}
		last = r.LSN
		if event.Type(r.Type) == event.TypeMessageAdded {
			ev, err := event.Decode(event.Type(r.Type), r.Payload)
			if err != nil || len(ev.(event.MessageAdded).Blob) != 0 {
				return fmt.Errorf("lsn %d: blob not stripped (%v)", r.LSN, err)
			}
		}
		n++
		return nil
	})
	if err != nil || last != h.eng.LogLastLSN() {
		t.Fatalf("records: %d, last %d of %d: %v", n, last, h.eng.LogLastLSN(), err)
	}
}
