package restore

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/engine"
)

// A restore into a new account run again after an interruption fills the
// account the first run created with what it lacks, without duplicates;
// an account that restore did not create is still refused.
func TestAccountRestoreResumes(t *testing.T) {
	r := newRig(t, vfs.NewMem(), "h", nil)
	h := &history{r: r, rnd: rand.New(rand.NewPCG(77, 7))}
	h.run("src@example.org", 70, false)
	r.sync()
	want, ok := h.at(Latest)
	if !ok {
		t.Fatal("the history ends without the account")
	}
	rs := r.restorer()
	rep, err := rs.Account(ctx, h.acct, Latest, "copy@example.org", AccountOptions{})
	if err != nil || rep.Restored == 0 {
		t.Fatalf("first run: %v\n%s", err, rep)
	}
	target := rep.Accounts[0].Target
	// What an interruption leaves: part of the items.
	folders, err := r.eng.ListFolders(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for _, f := range folders {
		items, err := r.eng.ListItems(ctx, target, f.ID)
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
			if _, err := r.eng.Expunge(ctx, target, f.ID, ids); err != nil {
				t.Fatal(err)
			}
			dropped += len(ids)
		}
	}
	if dropped == 0 {
		t.Fatal("nothing to resume")
	}
	rep, err = rs.Account(ctx, h.acct, Latest, "copy@example.org", AccountOptions{})
	if err != nil || rep.Restored != dropped || rep.Accounts[0].Target != target {
		t.Fatalf("rerun restored %d of the %d dropped: %v\n%s", rep.Restored, dropped, err, rep)
	}
	// Same items in every folder; the resumed ones come after those the
	// first run left, so UID order may differ from the source's.
	if d := diff(byKey(want), byKey(dump(t, r.eng, target))); d != "" {
		t.Fatalf("after the rerun: %s", d)
	}

	if _, err := r.eng.CreateAccount(ctx, engine.AccountSpec{Address: "other@example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Account(ctx, h.acct, Latest, "other@example.org", AccountOptions{}); !errors.Is(err, engine.ErrExists) {
		t.Fatalf("restore into an account it did not create: %v", err)
	}
}

// byKey orders every folder's items by content, flags and date.
func byKey(m mailbox) mailbox {
	out := mailbox{}
	for p, l := range m {
		c := slices.Clone(l)
		sort.Slice(c, func(i, j int) bool { return c[i].key() < c[j].key() })
		out[p] = c
	}
	return out
}
