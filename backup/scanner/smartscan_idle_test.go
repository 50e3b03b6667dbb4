package scanner_test

import (
	"context"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// TestIdleSmartScanWritesNothing: with classes of service defined, a
// SmartScan of a server that did not change since the last one finds
// nothing to correct and stores no scan object.
func TestIdleSmartScanWritesNothing(t *testing.T) {
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
	must(e.CreateCOS(ctx, event.COS{Name: "staff", Backup: true, DefaultQuota: 1 << 30}))
	must(e.CreateCOS(ctx, event.COS{Name: "interns", Backup: false}))
	a, err := e.CreateAccount(ctx, engine.AccountSpec{Address: "erin@example.org", Password: "pw", COS: "staff"})
	must(err)
	_, err = e.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: backuptest.Message(1, 2000)})
	must(err)
	h.Clk.Add(time.Minute)
	h.WaitShipped()
	if _, err := h.Scanner.Scan(ctx, 0); err != nil {
		t.Fatal(err)
	}
	scans, err := h.Repo.Scans(ctx)
	must(err)
	for i := 0; i < 3; i++ {
		h.Clk.Add(time.Minute)
		rep, err := h.Scanner.Scan(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Changes != 0 || rep.Object != "" {
			t.Fatalf("idle SmartScan %d: %+v", i, rep)
		}
	}
	after, err := h.Repo.Scans(ctx)
	must(err)
	if len(after) != len(scans) {
		t.Fatalf("idle SmartScans stored %d scan objects", len(after)-len(scans))
	}
}
