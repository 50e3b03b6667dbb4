package engine

import (
	"errors"
	"testing"
	"time"
)

// TestItemAtOldUID: an item moved under a new UID keeps its id (a MOVE
// into the same folder, RFC 6851; or away and back). Named with the UID
// it had before, the At calls leave it alone as they would an expunged
// item, and act on it by its new UID. A caller naming no UID (0) still
// reaches it wherever it is in the folder.
func TestItemAtOldUID(t *testing.T) {
	r := newModseqRig(t)
	e, acct := r.e, r.acct
	inbox := inboxOf(t, e, acct).ID
	other, err := e.CreateFolder(ctx, acct, "Other", "")
	must(t, err)
	x, err := e.Append(ctx, acct, inbox, msg("x", "1"), nil, time.Time{})
	must(t, err)
	y, err := e.Append(ctx, acct, inbox, msg("y", "2"), nil, time.Time{})
	must(t, err)

	moved, err := e.Move(ctx, acct, inbox, []uint64{x.ID}, inbox)
	must(t, err)
	if moved[0].ID != x.ID || moved[0].UID == x.UID {
		t.Fatalf("move into the same folder: %+v, want id %d under a new UID", moved[0], x.ID)
	}
	old := ItemAt{ID: x.ID, UID: x.UID}
	now := ItemAt{ID: x.ID, UID: moved[0].UID}

	res, err := e.StoreFlagsAt(ctx, acct, inbox, []ItemAt{old, {ID: y.ID, UID: y.UID}}, FlagsAdd, []string{`\Flagged`}, StoreOptions{})
	must(t, err)
	if len(res.Missing) != 1 || res.Missing[0] != x.ID || len(res.Changed) != 1 || res.Changed[0].ID != y.ID {
		t.Fatalf("StoreFlagsAt by the old UID: %+v, want x missing and y changed", res)
	}
	if _, err := e.CopyAt(ctx, acct, inbox, []ItemAt{old}, other.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CopyAt by the old UID: %v, want ErrNotFound", err)
	}
	if _, err := e.MoveAt(ctx, acct, inbox, []ItemAt{old}, other.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("MoveAt by the old UID: %v, want ErrNotFound", err)
	}
	if _, err := e.ExpungeAt(ctx, acct, inbox, []ItemAt{old}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ExpungeAt by the old UID: %v, want ErrNotFound", err)
	}
	it, err := e.GetItem(ctx, acct, x.ID)
	must(t, err)
	if it.Folder != inbox || it.UID != now.UID || len(it.Flags) != 0 {
		t.Fatalf("after the calls by the old UID the item is %+v, want it untouched at UID %d", it, now.UID)
	}

	// By the new UID, and by id alone, the calls reach it.
	res, err = e.StoreFlagsAt(ctx, acct, inbox, []ItemAt{now}, FlagsAdd, []string{`\Seen`}, StoreOptions{})
	must(t, err)
	if len(res.Changed) != 1 || res.Changed[0].UID != now.UID {
		t.Fatalf("StoreFlagsAt by the new UID: %+v", res)
	}
	copies, err := e.CopyAt(ctx, acct, inbox, []ItemAt{now}, other.ID)
	must(t, err)
	if len(copies) != 1 {
		t.Fatalf("CopyAt by the new UID: %+v", copies)
	}

	// Away and back: the id returns to the folder under yet another UID.
	_, err = e.MoveAt(ctx, acct, inbox, []ItemAt{now}, other.ID)
	must(t, err)
	back, err := e.Move(ctx, acct, other.ID, []uint64{x.ID}, inbox)
	must(t, err)
	if _, err := e.MoveAt(ctx, acct, inbox, []ItemAt{now}, other.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("MoveAt by the UID before a move away and back: %v, want ErrNotFound", err)
	}
	gone, err := e.ExpungeAt(ctx, acct, inbox, []ItemAt{{ID: x.ID, UID: back[0].UID}})
	must(t, err)
	if len(gone) != 1 || gone[0].UID != back[0].UID {
		t.Fatalf("ExpungeAt by the current UID: %+v", gone)
	}

	// The same history replays to the same state.
	r.replay()
	items, err := r.e.ListItems(ctx, acct, inbox)
	must(t, err)
	if len(items) != 1 || items[0].ID != y.ID || !hasFlag(items[0].Flags, `\Flagged`) {
		t.Fatalf("INBOX after replay: %+v, want only y, \\Flagged", items)
	}
}
