package scanner_test

import (
	"context"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

func TestClassWithoutBackup(t *testing.T) {
	h := backuptest.NewHarness(t, nil)
	ctx := context.Background()
	e := h.Eng
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
	body := backuptest.Message(1, 5000)
	_, err = e.Deliver(ctx, engine.Delivery{Recipients: []uint64{dave.ID}, Body: body})
	must(err)
	h.Clk.Add(time.Minute)
	h.WaitShipped()
	if _, err := h.Cat.AccountAt(ctx, dave.ID, h.Clk.Now()); err == nil {
		t.Fatal("an account without backup is in the catalog")
	}
	gone, _ := h.Cat.DeletedAccounts(ctx)
	if len(gone) != 1 || !gone[0].Excluded {
		t.Fatalf("DeletedAccounts: %+v", gone)
	}
	if ok, _ := h.Repo.HasBlob(ctx, dedup.Sum(body)); ok {
		t.Fatal("the blob of an account without backup was stored")
	}
	// Turning backup on brings the account back through a SmartScan.
	must(e.ModifyCOS(ctx, event.COS{Name: "interns", Backup: true}))
	h.Clk.Add(time.Minute)
	backuptest.WaitView(t, h, dave.ID)
	if ok, _ := h.Repo.HasBlob(ctx, dedup.Sum(body)); !ok {
		t.Fatal("SmartScan did not store the blob")
	}
	// And off again: treated as deleted from then on.
	must(e.ModifyCOS(ctx, event.COS{Name: "interns", Backup: false}))
	h.Clk.Add(time.Minute)
	h.WaitShipped()
	if _, err := h.Cat.AccountAt(ctx, dave.ID, h.Clk.Now()); err == nil {
		t.Fatal("account still backed up after its class turned backup off")
	}
	del, _ := h.Cat.DeletedBetween(ctx, dave.ID, h.Clk.Now().Add(-2*time.Minute), h.Clk.Now())
	if len(del) != 1 {
		t.Fatalf("items of the excluded account not marked deleted: %+v", del)
	}
	assertRebuildSame(t, h)
}

func assertRebuildSame(t *testing.T, h *backuptest.Harness) {
	t.Helper()
	ctx := context.Background()
	vr, err := maint.Verify(ctx, h.Repo, h.Cat, maint.VerifyOptions{ReadData: true})
	if err != nil || len(vr.Problems) != 0 {
		t.Fatalf("verify: %+v %v", vr.Problems, err)
	}
}

func TestDisableEnableAndTruncatedLog(t *testing.T) {
	h := backuptest.NewHarnessOpts(t, nil, func(o *engine.Options) { o.RedoLog.SegmentSize = 512 })
	ctx := context.Background()
	e := h.Eng
	if err := e.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := e.CreateAccount(ctx, engine.AccountSpec{Address: "erin@example.org", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	h.WaitShipped()
	h.Scanner.SetEnabled(false)
	if h.Scanner.SafeLSN() != ^uint64(0) {
		t.Fatal("a disabled scanner still holds the log")
	}
	var last engine.Item
	for i := 0; i < 12; i++ {
		h.Clk.Add(time.Second)
		res, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: backuptest.Message(i, 600)})
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
	if e.LogFirstLSN() <= h.Scanner.Live().ShippedLSN+1 {
		t.Fatalf("log not truncated past the scanner: first %d, shipped %d", e.LogFirstLSN(), h.Scanner.Live().ShippedLSN)
	}
	h.Clk.Add(time.Minute)
	h.Scanner.SetEnabled(true)
	backuptest.WaitView(t, h, a.ID)
	h.WaitShipped()
	// Later changes are followed from the log again.
	h.Clk.Add(time.Minute)
	if _, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: backuptest.Message(100, 100)}); err != nil {
		t.Fatal(err)
	}
	backuptest.WaitView(t, h, a.ID)
	assertRebuildSame(t, h)
}
