package engine

import (
	"errors"
	"testing"

	"github.com/tidemark/tidemark/engine/event"
)

// A restore is not held to the quota and writes into an account in
// maintenance; other appends and deliveries are refused there.
func TestRestoredAppendIgnoresQuotaAndMaintenance(t *testing.T) {
	e, a := newEngine(t)
	quota := int64(300)
	if _, err := e.ModifyAccount(ctx, a.ID, AccountChange{Quota: &quota}); err != nil {
		t.Fatal(err)
	}
	inbox, err := e.FolderByPath(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs := manyMsgs("q", 4, 0) // well over 300 bytes together
	_, errs := e.AppendMany(ctx, a.ID, inbox.ID, msgs, event.AddAppended)
	if !errors.Is(errs[len(errs)-1], ErrQuotaExceeded) {
		t.Fatalf("plain append over quota: %v", errs)
	}
	_, errs = e.AppendMany(ctx, a.ID, inbox.ID, msgs, event.AddRestored)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("restored append %d: %v", i, err)
		}
	}
	if used, limit, _ := e.Quota(ctx, a.ID); used <= limit {
		t.Fatalf("used %d of %d: the restore should have gone over", used, limit)
	}

	st := event.StatusMaintenance
	if _, err := e.ModifyAccount(ctx, a.ID, AccountChange{Status: &st}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AppendReason(ctx, a.ID, inbox.ID, msgs[0].Body, nil, msgs[0].InternalDate, event.AddRestored); err != nil {
		t.Fatalf("restored append in maintenance: %v", err)
	}
	var se *StatusError
	if _, err := e.Append(ctx, a.ID, inbox.ID, msgs[0].Body, nil, msgs[0].InternalDate); !errors.As(err, &se) {
		t.Fatalf("plain append in maintenance: %v", err)
	}
	res, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: msgs[0].Body})
	if err != nil || !errors.As(res[0].Err, &se) {
		t.Fatalf("delivery in maintenance: %v %v", res, err)
	}
}
