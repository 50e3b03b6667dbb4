package restore

import (
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// A rollback of an account in maintenance (a live server's in-place
// restore) matches the oracle and leaves the account in maintenance, for
// whoever put it there to set back; the maintenance account still takes
// the restored items.
func TestInPlaceKeepsMaintenance(t *testing.T) {
	r, h := newHistory(t, 7, 60, false)
	st := event.StatusMaintenance
	if _, err := r.Eng.ModifyAccount(ctx, h.Acct, engine.AccountChange{Status: &st}); err != nil {
		t.Fatal(err)
	}
	r.Sync()
	at := h.Times(3)[1]
	want, ok := h.At(at)
	if !ok {
		t.Fatal("the history has no state at the chosen time")
	}
	r.Clk.Advance(time.Second)
	rep, err := restorerOf(r).InPlace(ctx, h.Acct, at)
	if err != nil || rep.Unrestored != 0 {
		t.Fatalf("rollback in maintenance: %v\n%s", err, rep)
	}
	if d := diff(want, dump(t, r.Eng, h.Acct)); d != "" {
		t.Fatalf("rollback in maintenance: %s", d)
	}
	a, err := r.Eng.GetAccount(ctx, h.Acct)
	if err != nil || a.Status != event.StatusMaintenance {
		t.Fatalf("status after the rollback: %v, %v", a.Status, err)
	}
}
