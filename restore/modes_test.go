package restore

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func newHistory(t *testing.T, seed uint64, ops int, del bool) (*rig, *history) {
	r := newRig(t, vfs.NewMem(), "m", nil)
	h := &history{R: r, Rnd: rand.New(rand.NewPCG(seed, 11))}
	h.Run("src@example.org", ops, del)
	r.Sync()
	return r, h
}

// TestInPlaceRollbackMatchesOracle rolls the source back to random times
// and compares it with the oracle, then rolls the rollback itself back.
func TestInPlaceRollbackMatchesOracle(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r, h := newHistory(t, seed, 80, false)
			rs := restorerOf(r)
			final := h.Snaps[len(h.Snaps)-1]
			for i, at := range h.Times(6) {
				want, ok := h.At(at)
				if !ok {
					continue
				}
				r.Clk.Advance(time.Second)
				rep, err := rs.InPlace(ctx, h.Acct, at)
				if err != nil {
					t.Fatalf("rollback %d to %s: %v", i, at.Format(time.RFC3339Nano), err)
				}
				if rep.Unrestored != 0 {
					t.Fatalf("unrestored: %s", rep)
				}
				if d := diff(want, dump(t, r.Eng, h.Acct)); d != "" {
					t.Fatalf("rollback %d to %s: %s", i, at.Format(time.RFC3339Nano), d)
				}
				r.Sync()
				// Back to the newest state of the history: the state before
				// the rollbacks is still in the backup.
				rep, err = rs.InPlace(ctx, h.Acct, final.At)
				if err != nil {
					t.Fatal(err)
				}
				if d := diff(final.Box, dump(t, r.Eng, h.Acct)); d != "" {
					t.Fatalf("roll forward after %d: %s", i, d)
				}
				r.Sync()
			}
			if err := r.Eng.Check(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUndeleteWindows restores what was deleted in random windows and
// compares with the items the oracle saw disappear in them.
func TestUndeleteWindows(t *testing.T) {
	r, h := newHistory(t, 42, 120, false)
	rs := restorerOf(r)
	for trial := 0; trial < 8; trial++ {
		a, b := h.Rnd.IntN(len(h.Snaps)), h.Rnd.IntN(len(h.Snaps))
		if a > b {
			a, b = b, a
		}
		from, to := h.Snaps[a].At, h.Snaps[b].At
		if trial == 0 {
			from, to = Earliest, Latest
		}
		// Expected: items present before a record in the window and gone
		// after it, beneath the folder they were in.
		want := mailbox{}
		for i := 1; i < len(h.Snaps); i++ {
			s := h.Snaps[i]
			if s.At.Before(from) || s.At.After(to) {
				continue
			}
			now := map[uint64]bool{}
			for _, list := range s.Box {
				for _, m := range list {
					now[m.ID] = true
				}
			}
			for path, list := range h.Snaps[i-1].Box {
				for _, m := range list {
					if !now[m.ID] {
						want[path] = append(want[path], m.Without(`\Deleted`))
					}
				}
			}
		}
		before := dump(t, r.Eng, h.Acct)
		r.Clk.Advance(time.Second)
		rep, err := rs.Undelete(ctx, h.Acct, from, to)
		if err != nil {
			t.Fatal(err)
		}
		after := dump(t, r.Eng, h.Acct)
		got := mailbox{}
		var root string
		for p, list := range after {
			if _, old := before[p]; old {
				if d := diff(mailbox{p: before[p]}, mailbox{p: list}); d != "" {
					t.Fatalf("live folder changed: %s", d)
				}
				continue
			}
			if !strings.Contains(p, "/") {
				root = p
				continue
			}
			if len(list) > 0 {
				got[strings.SplitN(p, "/", 2)[1]] = list
			}
		}
		total := 0
		for p, list := range want {
			total += len(list)
			// Deleted items come back in UID order of their folder; the
			// oracle lists them in deletion order, so compare as sets.
			sort.Slice(list, func(i, j int) bool { return list[i].Key() < list[j].Key() })
			want[p] = list
		}
		for p, list := range got {
			sort.Slice(list, func(i, j int) bool { return list[i].Key() < list[j].Key() })
			got[p] = list
		}
		if d := diff(want, got); d != "" {
			for p, l := range want {
				t.Logf("want %s %d", p, len(l))
			}
			for p, l := range got {
				t.Logf("got %s %d", p, len(l))
			}
			for _, s := range h.Snaps {
				t.Logf("%s %s", s.At.Format(time.RFC3339Nano), s.What)
			}
			t.Fatalf("window %d [%s, %s]: %s\n%s", trial, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), d, rep)
		}
		if rep.Restored != total {
			t.Fatalf("report %d restored, oracle %d", rep.Restored, total)
		}
		if total > 0 && !strings.HasPrefix(root, RestoredPrefix) {
			t.Fatalf("undelete folder %q", root)
		}
		r.Sync()
		// Undelete adds folders and items; clean them away so the next
		// window sees the same live account.
		if _, err := rs.InPlace(ctx, h.Acct, h.Snaps[len(h.Snaps)-1].At); err != nil {
			t.Fatal(err)
		}
		r.Sync()
	}
}

// TestItemRestore brings back single deleted items into their folder, and
// into a named one.
func TestItemRestore(t *testing.T) {
	r, h := newHistory(t, 7, 100, false)
	rs := restorerOf(r)
	dels, err := r.Cat.DeletedBetween(ctx, h.Acct, Earliest, Latest)
	if err != nil || len(dels) < 2 {
		t.Fatalf("deleted items %d %v", len(dels), err)
	}
	for i, d := range dels[:2] {
		prev, _ := h.At(d.Time.Add(-time.Nanosecond))
		var m msg
		var path string
		for p, list := range prev {
			for _, x := range list {
				if x.ID == d.ID {
					m, path = x, p
				}
			}
		}
		if path == "" {
			t.Fatalf("oracle lacks item %d", d.ID)
		}
		folder := ""
		if i == 1 {
			folder, path = "Recovered/one", "Recovered/one"
		}
		rep, err := rs.Item(ctx, h.Acct, d.ID, Latest, folder)
		if err != nil || rep.Restored != 1 {
			t.Fatalf("item restore: %v %s", err, rep)
		}
		list := dump(t, r.Eng, h.Acct)[path]
		if len(list) == 0 || list[len(list)-1].Key() != m.Key() {
			t.Fatalf("item %d not back at the end of %s: %+v want %s", d.ID, path, list, m.Key())
		}
	}
	if _, err := rs.Item(ctx, h.Acct, 1<<40, Latest, ""); err == nil {
		t.Fatal("restore of an unknown item succeeded")
	}
}

// TestDeletedAccount lists a deleted account and restores it as it was
// just before its deletion.
func TestDeletedAccount(t *testing.T) {
	r, h := newHistory(t, 9, 60, true)
	dels, err := r.Cat.DeletedAccounts(ctx)
	if err != nil || len(dels) != 1 || dels[0].Account.ID != h.Acct {
		t.Fatalf("deleted accounts %+v %v", dels, err)
	}
	rep, err := restorerOf(r).DeletedAccount(ctx, h.Acct, "back@example.org", AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := h.Snaps[len(h.Snaps)-2].Box
	if d := diff(want, dump(t, r.Eng, rep.Accounts[0].Target)); d != "" {
		t.Fatal(d)
	}
	if _, err := r.Eng.Authenticate(ctx, "back@example.org", "pw"); err != nil {
		t.Fatalf("restored password: %v", err)
	}
}
