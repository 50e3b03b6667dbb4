package backup_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// waitView waits until the catalog's view of acct equals the engine's.
func waitView(t *testing.T, h *harness, acct uint64) {
	t.Helper()
	want := engineView(t, h.eng, acct)
	var got accountView
	var err error
	for i := 0; i < 1000; i++ {
		got, err = catalogView(t, h.cat, acct, h.clk.Now().Add(time.Hour))
		if err == nil && reflect.DeepEqual(got, want) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("catalog never matched the engine (%v):\ngot  %v\nwant %v", err, got, want)
}

func TestClassWithoutBackup(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	e := h.eng
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.CreateDomain(ctx, "example.org"))
	must(e.CreateCOS(ctx, event.COS{Name: "interns", Backup: false}))
	dave, err := e.CreateAccount(ctx, engine.AccountSpec{Address: "dave@example.org", Password: "pw", COS: "interns"})
	must(err)
	body := message(1, 5000)
	_, err = e.Deliver(ctx, engine.Delivery{Recipients: []uint64{dave.ID}, Body: body})
	must(err)
	h.clk.Add(time.Minute)
	h.waitShipped()
	if _, err := h.cat.AccountAt(ctx, dave.ID, h.clk.Now()); err == nil {
		t.Fatal("an account without backup is in the catalog")
	}
	gone, _ := h.cat.DeletedAccounts(ctx)
	if len(gone) != 1 || !gone[0].Excluded {
		t.Fatalf("DeletedAccounts: %+v", gone)
	}
	if ok, _ := h.repo.HasBlob(ctx, dedup.Sum(body)); ok {
		t.Fatal("the blob of an account without backup was stored")
	}
	// Turning backup on brings the account back through a SmartScan.
	must(e.ModifyCOS(ctx, event.COS{Name: "interns", Backup: true}))
	h.clk.Add(time.Minute)
	waitView(t, h, dave.ID)
	if ok, _ := h.repo.HasBlob(ctx, dedup.Sum(body)); !ok {
		t.Fatal("SmartScan did not store the blob")
	}
	// And off again: treated as deleted from then on.
	must(e.ModifyCOS(ctx, event.COS{Name: "interns", Backup: false}))
	h.clk.Add(time.Minute)
	h.waitShipped()
	if _, err := h.cat.AccountAt(ctx, dave.ID, h.clk.Now()); err == nil {
		t.Fatal("account still backed up after its class turned backup off")
	}
	del, _ := h.cat.DeletedBetween(ctx, dave.ID, h.clk.Now().Add(-2*time.Minute), h.clk.Now())
	if len(del) != 1 {
		t.Fatalf("items of the excluded account not marked deleted: %+v", del)
	}
	assertRebuildSame(t, h)
}

func assertRebuildSame(t *testing.T, h *harness) {
	t.Helper()
	ctx := context.Background()
	vr, err := maint.Verify(ctx, h.repo, h.cat, maint.VerifyOptions{ReadData: true})
	if err != nil || len(vr.Problems) != 0 {
		t.Fatalf("verify: %+v %v", vr.Problems, err)
	}
}

func TestDisableEnableAndTruncatedLog(t *testing.T) {
	h := newHarnessOpts(t, nil, func(o *engine.Options) { o.RedoLog.SegmentSize = 512 })
	ctx := context.Background()
	e := h.eng
	if err := e.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := e.CreateAccount(ctx, engine.AccountSpec{Address: "erin@example.org", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	h.waitShipped()
	h.sc.SetEnabled(false)
	if h.sc.SafeLSN() != ^uint64(0) {
		t.Fatal("a disabled scanner still holds the log")
	}
	var last engine.Item
	for i := 0; i < 12; i++ {
		h.clk.Add(time.Second)
		res, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: message(i, 600)})
		if err != nil {
			t.Fatal(err)
		}
		last = res[0].Item
	}
	inbox, _ := e.FolderByPath(ctx, a.ID, "INBOX")
	if _, err := e.Expunge(ctx, a.ID, inbox.ID, []uint64{last.ID}); err != nil {
		t.Fatal(err)
	}
	// The log drops what the disabled scanner never read.
	if err := e.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.TrimLog(); err != nil {
		t.Fatal(err)
	}
	if e.LogFirstLSN() <= h.sc.Live().ShippedLSN+1 {
		t.Fatalf("log not truncated past the scanner: first %d, shipped %d", e.LogFirstLSN(), h.sc.Live().ShippedLSN)
	}
	h.clk.Add(time.Minute)
	h.sc.SetEnabled(true)
	waitView(t, h, a.ID)
	h.waitShipped()
	// Later changes are followed from the log again.
	h.clk.Add(time.Minute)
	if _, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: message(100, 100)}); err != nil {
		t.Fatal(err)
	}
	waitView(t, h, a.ID)
	assertRebuildSame(t, h)
}
