package engine

import (
	"testing"
	"time"
)

// TestExpungeDeletedAt: of the items named, only those still flagged
// \Deleted when the expunge is written go; one whose flag another
// session took off after EXPUNGE listed it stays (RFC 9051 section
// 6.4.3).
func TestExpungeDeletedAt(t *testing.T) {
	e, a, inbox := oneInbox(t)
	var at []ItemAt
	for i := 0; i < 3; i++ {
		it, err := e.Append(ctx, a.ID, inbox, []byte("Subject: m\r\n\r\nbody\r\n"), []string{FlagDeleted}, time.Time{})
		must(t, err)
		at = append(at, ItemAt{ID: it.ID, UID: it.UID})
	}
	// Another session undeletes the second message after EXPUNGE listed
	// all three.
	_, err := e.StoreFlagsAt(ctx, a.ID, inbox, at[1:2], FlagsRemove, []string{FlagDeleted}, StoreOptions{})
	must(t, err)
	removed, err := e.ExpungeDeletedAt(ctx, a.ID, inbox, at)
	must(t, err)
	if len(removed) != 2 || removed[0].ID != at[0].ID || removed[1].ID != at[2].ID {
		t.Fatalf("removed %+v, want items %d and %d", removed, at[0].ID, at[2].ID)
	}
	left, err := e.ListItems(ctx, a.ID, inbox)
	must(t, err)
	if len(left) != 1 || left[0].ID != at[1].ID {
		t.Fatalf("left %+v, want only the undeleted item %d", left, at[1].ID)
	}
	if removed, err := e.ExpungeDeletedAt(ctx, a.ID, inbox, at[1:2]); err != nil || len(removed) != 0 {
		t.Fatalf("expunge of an item without \\Deleted: %v, %+v", err, removed)
	}
}
