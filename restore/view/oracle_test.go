package view

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/restore/internal/oracle"
)

// TestViewMatchesOracle runs random histories and compares the view at
// random times (record times exactly, a nanosecond around them, points
// between) with the oracle's state: folders, order, flags, internal dates
// and bytes. Times before the account existed are refused as such.
func TestViewMatchesOracle(t *testing.T) {
	histories, perHistory := 8, 60
	if testing.Short() {
		histories, perHistory = 2, 25
	}
	for hi := 0; hi < histories; hi++ {
		t.Run(fmt.Sprintf("history%d", hi), func(t *testing.T) {
			seed := uint64(4000 + hi)
			r := oracle.NewRig(t, vfs.NewMem(), "v", nil)
			h := &oracle.History{R: r, Rnd: rand.New(rand.NewPCG(seed, 3))}
			h.Run("src@example.org", 80, false)
			r.Sync()
			r.Clk.Advance(2 * time.Second) // the oracle's times reach a second past the last record
			svc := service(r, nil)
			a, err := svc.Account(ctx, h.Acct)
			if err != nil {
				t.Fatal(err)
			}
			compared, msgs := 0, 0
			for _, at := range h.Times(perHistory) {
				want, exists := h.At(at)
				if !exists {
					if _, err := a.Folders(ctx, at); !errors.Is(err, ErrBeforeAccount) {
						t.Fatalf("seed %d at %s: account absent in oracle, view gave %v", seed, stamp(at), err)
					}
					continue
				}
				got := viewDump(t, a, at)
				if d := oracle.Diff(want, got); d != "" {
					t.Fatalf("seed %d at %s: %s", seed, stamp(at), d)
				}
				compared++
				for _, l := range got {
					msgs += len(l)
				}
			}
			t.Logf("%d records, %d times compared, %d messages read", len(h.Snaps), compared, msgs)
			if compared == 0 || msgs == 0 {
				t.Fatal("nothing was compared")
			}
		})
	}
}

// TestUIDsStable opens every folder at several times through two services
// (two cold caches) and through one cache twice: the same UIDVALIDITY and
// the same UIDs for the same messages; two times get two UIDVALIDITY
// values.
func TestUIDsStable(t *testing.T) {
	r := oracle.NewRig(t, vfs.NewMem(), "u", nil)
	h := &oracle.History{R: r, Rnd: rand.New(rand.NewPCG(77, 1))}
	h.Run("src@example.org", 60, false)
	r.Sync()
	a1, err := service(r, nil).Account(ctx, h.Acct)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := service(r, nil).Account(ctx, h.Acct)
	if err != nil {
		t.Fatal(err)
	}
	last := h.Snaps[len(h.Snaps)-1].At
	mid := h.Snaps[len(h.Snaps)/2].At
	seen := map[uint32]string{}
	for _, at := range []time.Time{mid, last, mid} {
		fs, err := a1.Folders(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			b1, err := a1.Open(ctx, at, f.Path)
			if err != nil {
				t.Fatal(err)
			}
			b2, err := a2.Open(ctx, at, f.Path)
			if err != nil {
				t.Fatal(err)
			}
			if b1.UIDValidity != b2.UIDValidity || len(b1.Messages) != len(b2.Messages) {
				t.Fatalf("%s at %s: uidvalidity %d/%d, %d/%d messages", f.Path, stamp(at), b1.UIDValidity, b2.UIDValidity, len(b1.Messages), len(b2.Messages))
			}
			for i := range b1.Messages {
				if b1.Messages[i].UID != b2.Messages[i].UID || b1.Messages[i].Item != b2.Messages[i].Item || b1.Messages[i].Digest != b2.Messages[i].Digest {
					t.Fatalf("%s at %s: message %d differs: %+v / %+v", f.Path, stamp(at), i, b1.Messages[i], b2.Messages[i])
				}
			}
			key := f.Path + "@" + stamp(at)
			if prev, ok := seen[b1.UIDValidity]; ok && prev != key {
				t.Fatalf("UIDVALIDITY %d for %s and %s", b1.UIDValidity, prev, key)
			}
			seen[b1.UIDValidity] = key
		}
	}
	// The view keeps the original UIDs: at the last record they are the
	// live folder's.
	fs, _ := r.Eng.ListFolders(ctx, h.Acct)
	for _, f := range fs {
		items, err := r.Eng.ListItems(ctx, h.Acct, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		box, err := a1.Open(ctx, last, f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != len(box.Messages) {
			t.Fatalf("%s: %d live items, %d in the view", f.Path, len(items), len(box.Messages))
		}
		for i, it := range items {
			if it.UID != box.Messages[i].UID || it.ID != box.Messages[i].Item {
				t.Fatalf("%s: live uid %d item %d, view uid %d item %d", f.Path, it.UID, it.ID, box.Messages[i].UID, box.Messages[i].Item)
			}
		}
	}
}
