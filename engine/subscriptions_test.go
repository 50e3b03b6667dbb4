package engine

import (
	"slices"
	"testing"

	"github.com/tidemark/tidemark/engine/event"
)

func subs(t *testing.T, e *Engine, acct uint64) []string {
	t.Helper()
	s, err := e.Subscriptions(ctx, acct)
	must(t, err)
	return s
}

func wantSubs(t *testing.T, e *Engine, acct uint64, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := subs(t, e, acct); !slices.Equal(got, want) {
		t.Fatalf("subscriptions %q, want %q", got, want)
	}
}

// TestSubscriptionsAreNames: the subscription list holds names apart from
// folders (RFC 9051 6.3.4-6.3.8): CREATE does not subscribe, a name without
// a folder can be subscribed, DELETE and RENAME leave the names as they
// were, the starting folders of a new account are subscribed, and every
// change is a record that a rebuild from the log gives back.
func TestSubscriptionsAreNames(t *testing.T) {
	r := newModseqRig(t)
	e, acct := r.e, r.acct
	defaults := []string{"Drafts", "INBOX", "Junk", "Sent", "Trash"}
	wantSubs(t, e, acct, defaults...)

	p, err := e.CreateFolder(ctx, acct, "Projects", "")
	must(t, err)
	if p.Subscribed {
		t.Fatal("CreateFolder subscribed the folder")
	}
	wantSubs(t, e, acct, defaults...)

	// A name with no folder; "inbox" in any case is INBOX.
	lsn := e.AppliedLSN()
	must(t, e.SetSubscriptions(ctx, acct, []string{"Lists/go-nuts", "inbox"}, true))
	if e.AppliedLSN() != lsn+1 {
		t.Fatalf("subscribe wrote %d records, want 1", e.AppliedLSN()-lsn)
	}
	wantSubs(t, e, acct, append([]string{"Lists/go-nuts"}, defaults...)...)
	// Again: nothing to record.
	lsn = e.AppliedLSN()
	must(t, e.SetSubscriptions(ctx, acct, []string{"Lists/go-nuts"}, true))
	must(t, e.SetSubscriptions(ctx, acct, []string{"Nowhere"}, false))
	if e.AppliedLSN() != lsn {
		t.Fatal("a subscription that changes nothing wrote a record")
	}
	wantErr(t, e.SetSubscriptions(ctx, acct, []string{"a/\x01"}, true), ErrInvalid)
	wantErr(t, e.SetSubscriptions(ctx, 99, []string{"x"}, true), ErrNotFound)

	// A folder created at a subscribed name is subscribed.
	_, err = e.CreateFolder(ctx, acct, "Lists", "")
	must(t, err)
	g, err := e.CreateFolder(ctx, acct, "Lists/go-nuts", "")
	must(t, err)
	if !g.Subscribed {
		t.Fatal("folder at a subscribed name not reported subscribed")
	}
	if g, _ = e.GetFolder(ctx, acct, g.ID); !g.Subscribed || g.OwnSubscribed {
		t.Fatalf("GetFolder %+v", g)
	}

	// DELETE keeps the subscription, of a folder subscribed by name and of
	// a starting folder (its own flag becomes a name first).
	must(t, e.DeleteFolder(ctx, acct, g.ID))
	junk, err := e.FolderByPath(ctx, acct, "Junk")
	must(t, err)
	if !junk.OwnSubscribed {
		t.Fatal("starting folder without its flag")
	}
	must(t, e.DeleteFolder(ctx, acct, junk.ID))
	wantSubs(t, e, acct, append([]string{"Lists/go-nuts"}, defaults...)...)

	// RENAME leaves the old names subscribed (children too) and does not
	// subscribe the new ones.
	must(t, e.SetSubscriptions(ctx, acct, []string{"Projects"}, true))
	c, err := e.CreateFolder(ctx, acct, "Trash/Old", "")
	must(t, err)
	must(t, e.SetSubscribed(ctx, acct, c.ID, true))
	trash, err := e.FolderByPath(ctx, acct, "Trash")
	must(t, err)
	must(t, e.RenameFolder(ctx, acct, trash.ID, "Bin"))
	must(t, e.RenameFolder(ctx, acct, p.ID, "Work"))
	all := append([]string{"Lists/go-nuts", "Projects", "Trash/Old"}, defaults...)
	wantSubs(t, e, acct, all...)
	fs, err := e.ListFolders(ctx, acct)
	must(t, err)
	for _, f := range fs {
		if want := slices.Contains(all, f.Path); f.Subscribed != want {
			t.Errorf("folder %s subscribed=%v, want %v", f.Path, f.Subscribed, want)
		}
	}

	// Unsubscribing a starting folder clears its flag.
	must(t, e.SetSubscriptions(ctx, acct, []string{"Sent", "Trash"}, false))
	sent, err := e.FolderByPath(ctx, acct, "Sent")
	must(t, err)
	if sent.Subscribed || sent.OwnSubscribed {
		t.Fatalf("Sent after unsubscribe %+v", sent)
	}
	left := []string{"Drafts", "INBOX", "Junk", "Lists/go-nuts", "Projects", "Trash/Old"}
	wantSubs(t, e, acct, left...)

	digest, err := e.StateDigest(ctx)
	must(t, err)
	r.replay()
	wantSubs(t, r.e, acct, left...)
	if d, err := r.e.StateDigest(ctx); err != nil || d != digest {
		t.Fatalf("state digest after replay %s (%v), want %s", d, err, digest)
	}
	must(t, r.e.Check(ctx))
}

// TestSubscriptionsFromFolderFlags: a log written before subscriptions
// were names (FolderCreated{Subscribed}, FolderSubscribed) reads as the
// same subscriptions, and they survive a rename and delete of the folder.
func TestSubscriptionsFromFolderFlags(t *testing.T) {
	r := newModseqRig(t)
	e, acct := r.e, r.acct
	old := func(ev event.Event) {
		t.Helper()
		_, err := e.do(ctx, func(tx *txn) (event.Event, any, error) { return ev, nil, nil })
		must(t, err)
	}
	a, err := loadAccount(e.db, acct)
	must(t, err)
	old(event.FolderCreated{Account: acct, Folder: a.NextFolder, Name: "Old", UIDValidity: 900, Subscribed: true})
	old(event.FolderCreated{Account: acct, Folder: a.NextFolder + 1, Parent: a.NextFolder, Name: "Kid", UIDValidity: 901})
	old(event.FolderSubscribed{Account: acct, Folder: a.NextFolder + 1, Subscribed: true})
	old(event.FolderSubscribed{Account: acct, Folder: 2, Subscribed: false}) // Sent
	want := []string{"Drafts", "INBOX", "Junk", "Old", "Old/Kid", "Trash"}
	wantSubs(t, e, acct, want...)

	must(t, e.RenameFolder(ctx, acct, a.NextFolder, "New"))
	must(t, e.DeleteFolder(ctx, acct, a.NextFolder+1))
	wantSubs(t, e, acct, want...)
	r.replay()
	wantSubs(t, r.e, acct, want...)
	n, err := r.e.FolderByPath(ctx, acct, "New")
	must(t, err)
	if n.Subscribed || n.OwnSubscribed {
		t.Fatalf("renamed folder took the subscription: %+v", n)
	}
}

// TestSubscriptionsGoWithAccount: deleting an account drops its list, and
// the list is bounded by MaxFolders.
func TestSubscriptionsGoWithAccount(t *testing.T) {
	e, a := newEngine(t)
	e.opts.MaxFolders = 8
	must(t, e.SetSubscriptions(ctx, a.ID, []string{"a", "b", "c"}, true))
	wantErr(t, e.SetSubscriptions(ctx, a.ID, []string{"d", "e", "f", "g", "h", "i"}, true), ErrLimit)
	must(t, e.DeleteAccount(ctx, a.ID))
	n := 0
	must(t, scan(e.db, subPrefix(a.ID), func(_, _ []byte) error { n++; return nil }))
	if n != 0 {
		t.Fatalf("%d subscribed names left after the account was deleted", n)
	}
}
