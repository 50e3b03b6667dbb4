package restore

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/engine"
)

// A restore into a new account run again after an interruption fills the
// account the first run created with what it lacks, without duplicates;
// an account that restore did not create is still refused.
func TestAccountRestoreResumes(t *testing.T) {
	r := newRig(t, vfs.NewMem(), "h", nil)
	h := &history{R: r, Rnd: rand.New(rand.NewPCG(77, 7))}
	h.Run("src@example.org", 70, false)
	r.Sync()
	want, ok := h.At(Latest)
	if !ok {
		t.Fatal("the history ends without the account")
	}
	rs := restorerOf(r)
	rep, err := rs.Account(ctx, h.Acct, Latest, "copy@example.org", AccountOptions{})
	if err != nil || rep.Restored == 0 {
		t.Fatalf("first run: %v\n%s", err, rep)
	}
	target := rep.Accounts[0].Target
	// What an interruption leaves: part of the items.
	folders, err := r.Eng.ListFolders(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for _, f := range folders {
		items, err := r.Eng.ListItems(ctx, target, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		var ids []uint64
		for i, it := range items {
			if i%2 == 0 {
				ids = append(ids, it.ID)
			}
		}
		if len(ids) > 0 {
			if _, err := r.Eng.Expunge(ctx, target, f.ID, ids); err != nil {
				t.Fatal(err)
			}
			dropped += len(ids)
		}
	}
	if dropped == 0 {
		t.Fatal("nothing to resume")
	}
	rep, err = rs.Account(ctx, h.Acct, Latest, "copy@example.org", AccountOptions{})
	if err != nil || rep.Restored != dropped || rep.Accounts[0].Target != target {
		t.Fatalf("rerun restored %d of the %d dropped: %v\n%s", rep.Restored, dropped, err, rep)
	}
	// Same items in every folder; the resumed ones come after those the
	// first run left, so UID order may differ from the source's.
	if d := diff(byKey(want), byKey(dump(t, r.Eng, target))); d != "" {
		t.Fatalf("after the rerun: %s", d)
	}

	if _, err := r.Eng.CreateAccount(ctx, engine.AccountSpec{Address: "other@example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Account(ctx, h.Acct, Latest, "other@example.org", AccountOptions{}); !errors.Is(err, engine.ErrExists) {
		t.Fatalf("restore into an account it did not create: %v", err)
	}
}

// byKey orders every folder's items by content, flags and date.
func byKey(m mailbox) mailbox {
	out := mailbox{}
	for p, l := range m {
		c := slices.Clone(l)
		sort.Slice(c, func(i, j int) bool { return c[i].Key() < c[j].Key() })
		out[p] = c
	}
	return out
}

// An undelete into a named folder run again after an interruption adds
// only what the folder lacks.
func TestUndeleteIntoResumes(t *testing.T) {
	r, h := newHistory(t, 42, 120, false)
	rs := restorerOf(r)
	const root = "Restored 2026-12-03 03:40:00"
	// The window ends before the expunges below, which stand for an
	// interruption and must not count as deletions to bring back.
	to := h.Snaps[len(h.Snaps)-1].At
	r.Clk.Advance(time.Second)
	rep, err := rs.UndeleteInto(ctx, h.Acct, Earliest, to, root)
	if err != nil || rep.Restored == 0 {
		t.Fatalf("first run: %v\n%s", err, rep)
	}
	full := rep.Restored
	var under []uint64 // the restored folders
	folders, err := r.Eng.ListFolders(ctx, h.Acct)
	if err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for _, f := range folders {
		if f.Path != root && !strings.HasPrefix(f.Path, root+"/") {
			continue
		}
		under = append(under, f.ID)
		items, err := r.Eng.ListItems(ctx, h.Acct, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		var ids []uint64
		for i, it := range items {
			if i%3 == 0 {
				ids = append(ids, it.ID)
			}
		}
		if len(ids) > 0 {
			if _, err := r.Eng.Expunge(ctx, h.Acct, f.ID, ids); err != nil {
				t.Fatal(err)
			}
			dropped += len(ids)
		}
	}
	if dropped == 0 {
		t.Fatal("nothing to resume")
	}
	rep, err = rs.UndeleteInto(ctx, h.Acct, Earliest, to, root)
	if err != nil || rep.Restored != dropped || rep.Skipped != full-dropped {
		t.Fatalf("rerun: %d restored, %d skipped, want %d and %d: %v\n%s", rep.Restored, rep.Skipped, dropped, full-dropped, err, rep)
	}
	total := 0
	for _, id := range under {
		items, err := r.Eng.ListItems(ctx, h.Acct, id)
		if err != nil {
			t.Fatal(err)
		}
		total += len(items)
	}
	if total != full {
		t.Fatalf("%d items under %s after the rerun, want %d", total, root, full)
	}
}
