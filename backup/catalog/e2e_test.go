package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/redolog"
)

func TestEndToEndAsOf(t *testing.T) {
	h := backuptest.NewHarness(t, nil)
	ctx := context.Background()
	snaps, ids := backuptest.Workload(t, h)
	h.WaitShipped()
	check := func(c *catalog.Catalog, label string) {
		t.Helper()
		for i, s := range snaps {
			for name, id := range ids {
				want, exists := s.Views[id]
				got, err := backuptest.CatalogView(t, c, id, s.At)
				if !exists {
					if !errors.Is(err, repository.ErrNotFound) {
						t.Errorf("%s: after %q: %s should not exist, got %v", label, s.What, name, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: after %q: %s: %v", label, s.What, name, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: after %q (#%d): %s\ngot  %v\nwant %v", label, s.What, i, name, got, want)
				}
			}
		}
	}
	check(h.Cat, "live")

	// Deleted in a window: the expunged item and the folder's items.
	var expungeAt, deleteFolderAt time.Time
	for _, s := range snaps {
		switch s.What {
		case "expunge":
			expungeAt = s.At
		case "delete folder":
			deleteFolderAt = s.At
		}
	}
	del, err := h.Cat.DeletedBetween(ctx, ids["alice"], expungeAt.Add(-time.Minute), expungeAt)
	if err != nil || len(del) != 1 || del[0].FolderPath != "INBOX" || !del[0].Deleted {
		t.Fatalf("DeletedBetween expunge: %+v, %v", del, err)
	}
	del, err = h.Cat.DeletedBetween(ctx, ids["alice"], deleteFolderAt.Add(-time.Minute), deleteFolderAt)
	if err != nil || len(del) != 2 || del[0].FolderPath != "Archive" {
		t.Fatalf("DeletedBetween delete folder: %+v, %v", del, err)
	}
	gone, err := h.Cat.DeletedAccounts(ctx)
	if err != nil || len(gone) != 1 || gone[0].Account.ID != ids["bob"] || !gone[0].Deleted {
		t.Fatalf("DeletedAccounts: %+v, %v", gone, err)
	}
	// Versions of the moved item: created, flagged? no: created, moved.
	all, err := h.Cat.AccountAt(ctx, ids["alice"], snaps[len(snaps)-1].At)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range all.Items {
		raw, err := h.Repo.ReadBlob(ctx, it.Digest)
		if err != nil || int64(len(raw)) != it.Size {
			t.Fatalf("blob of item %d: %d bytes, %v", it.ID, len(raw), err)
		}
	}

	// A SmartScan of an unchanged engine writes nothing.
	rep, err := h.Scanner.Scan(ctx, 0)
	if err != nil || rep.Changes != 0 || rep.Object != "" {
		t.Fatalf("scan of unchanged engine: %+v, %v", rep, err)
	}

	// The catalog is a pure function of the repository.
	fresh, err := catalog.Rebuild(ctx, h.Repo, "rebuilt", vfs.NewMem())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	check(fresh, "rebuilt")
	a, _ := h.Cat.Digest(ctx)
	b, _ := fresh.Digest(ctx)
	if a != b {
		t.Fatal("rebuilt catalog digest differs from the live one")
	}
	vr, err := maint.Verify(ctx, h.Repo, h.Cat, maint.VerifyOptions{ReadData: true})
	if err != nil || len(vr.Problems) != 0 {
		t.Fatalf("verify: %+v, %v", vr, err)
	}
	// Records come back in order with blobs stripped.
	var n, last uint64
	err = h.Repo.Records(ctx, 0, 0, func(r redolog.Record) error {
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
	if err != nil || last != h.Eng.LogLastLSN() {
		t.Fatalf("records: %d, last %d of %d: %v", n, last, h.Eng.LogLastLSN(), err)
	}
}
