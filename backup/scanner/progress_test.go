package scanner_test

import (
	"context"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/maint"
)

// progressLog keeps the last progress of every step, in order.
type progressLog struct {
	steps []string
	last  map[string]maint.Progress
	calls int
}

func (l *progressLog) fn(t *testing.T) maint.ProgressFunc {
	l.last = map[string]maint.Progress{}
	return func(p maint.Progress) {
		l.calls++
		prev, seen := l.last[p.Step]
		if !seen {
			l.steps = append(l.steps, p.Step)
		} else if p.Items < prev.Items || p.Bytes < prev.Bytes {
			t.Errorf("%s went back: %+v after %+v", p.Step, p, prev)
		}
		if p.ItemsTotal > 0 && p.Items > p.ItemsTotal || p.BytesTotal > 0 && p.Bytes > p.BytesTotal {
			t.Errorf("%s past its total: %+v", p.Step, p)
		}
		l.last[p.Step] = p
	}
}

// done checks that step ended with every item (and byte, when counted)
// of its total, and that the total is at least min.
func (l *progressLog) done(t *testing.T, step string, min int64) {
	t.Helper()
	p, ok := l.last[step]
	if !ok {
		t.Fatalf("no progress for %q; steps %q", step, l.steps)
	}
	if p.Items != p.ItemsTotal || p.ItemsTotal < min || p.Bytes != p.BytesTotal {
		t.Fatalf("%q ended at %+v, want all of at least %d", step, p, min)
	}
}

// TestProgressOfScanPurgeVerify: SmartScan reports the accounts compared,
// purge the expired items, the segments and scans it read and the dead
// blobs, verify the objects and bytes checked and the referenced blobs,
// each step ending at its total.
func TestProgressOfScanPurgeVerify(t *testing.T) {
	h := backuptest.NewHarness(t, nil)
	snaps, _ := backuptest.Workload(t, h)
	h.WaitShipped()
	ctx := context.Background()
	accounts, err := h.Eng.ListAccounts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}

	var scan progressLog
	rep, err := h.Scanner.ScanWith(ctx, 0, scan.fn(t))
	if err != nil {
		t.Fatal(err)
	}
	scan.done(t, "comparing accounts", int64(len(accounts)))
	if scan.last["comparing accounts"].Items != int64(rep.Accounts) {
		t.Fatalf("scan progress %+v, report %+v", scan.last, rep)
	}

	var ver progressLog
	vr, err := h.Scanner.Verify(ctx, maint.VerifyOptions{ReadData: true, Progress: ver.fn(t)})
	if err != nil || len(vr.Problems) != 0 {
		t.Fatalf("verify: %+v, %v", vr.Problems, err)
	}
	ver.done(t, "checking objects", 3)
	if ver.last["checking objects"].BytesTotal == 0 {
		t.Fatalf("verify counted no bytes: %+v", ver.last)
	}
	ver.done(t, "checking referenced blobs", 1)
	if ver.last["checking referenced blobs"].Items != int64(vr.Blobs) {
		t.Fatalf("verify progress %+v, report %d blobs", ver.last, vr.Blobs)
	}

	// 31 days after the workload, what it deleted is past retention.
	h.Clk.Add(snaps[len(snaps)-1].At.Sub(h.Clk.Now()) + 31*24*time.Hour)
	var purge progressLog
	pr, err := h.Scanner.PurgeWith(ctx, maint.DefaultRetention, purge.fn(t))
	if err != nil {
		t.Fatal(err)
	}
	if pr.Items == 0 {
		t.Fatalf("purge removed nothing: %+v", pr)
	}
	purge.done(t, "removing expired item versions", int64(pr.Items))
	purge.done(t, "reading segments and scans", 1)
	purge.done(t, "removing dead blobs", int64(pr.Blobs))
	if got := purge.steps; len(got) != 3 || got[0] != "removing expired item versions" || got[2] != "removing dead blobs" {
		t.Fatalf("purge steps %q", got)
	}
}
