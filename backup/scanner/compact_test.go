package scanner_test

import (
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/redolog"
)

func TestCompactionKeepsEveryRecordOnce(t *testing.T) {
	h := backuptest.NewHarness(t, nil)
	ctx := context.Background()
	snaps, ids := backuptest.Workload(t, h)
	h.WaitShipped()
	before, err := h.Repo.Segments(ctx)
	if err != nil || len(before) < 3 {
		t.Fatalf("segments before: %d %v", len(before), err)
	}
	// Nothing is compacted while its window is still open.
	if n, err := h.Scanner.Compact(ctx, 24*time.Hour); err != nil || n != 0 {
		t.Fatalf("compacted an open window: %d %v", n, err)
	}
	// Close the hour window with a later record, then compact it.
	h.Clk.Add(2 * time.Hour)
	if _, err := h.Eng.Deliver(ctx, engine.Delivery{Recipients: []uint64{ids["alice"]}, Body: backuptest.Message(7, 100)}); err != nil {
		t.Fatal(err)
	}
	h.WaitShipped()
	n, err := h.Scanner.Compact(ctx, time.Hour)
	if err != nil || n < 3 {
		t.Fatalf("compacted %d segments: %v", n, err)
	}
	// A copy that listed log/ before the merge (cp -r, rsync) still finds
	// every segment it listed: the merged pieces outlive the merge by the
	// grace period.
	for _, seg := range before {
		if _, err := h.Vol.Stat(ctx, seg.Name); err != nil {
			t.Fatalf("segment %s gone right after compaction: %v", seg.Name, err)
		}
	}
	h.Clk.Add(9 * time.Minute)
	if _, err := h.Scanner.Compact(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if mid, _ := h.Repo.Segments(ctx); len(mid) <= len(before) {
		t.Fatalf("superseded segments deleted within the grace period: %d segments, %d before", len(mid), len(before))
	}
	h.Clk.Add(2 * time.Minute)
	if _, err := h.Scanner.Compact(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	after, _ := h.Repo.Segments(ctx)
	if len(after) >= len(before) {
		t.Fatalf("%d segments after compaction and grace, %d before", len(after), len(before))
	}
	checkRecordsOnce(t, h)
	fresh, err := catalog.Rebuild(ctx, h.Repo, "r", vfs.NewMem())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	for _, s := range snaps {
		for _, id := range ids {
			want, ok := s.Views[id]
			got, err := backuptest.CatalogView(t, fresh, id, s.At)
			if ok && (err != nil || got.String() != want.String()) {
				t.Fatalf("after compaction, %q: %v\n%v\nwant\n%v", s.What, err, got, want)
			}
		}
	}
}

// TestCompactLevelsOnePass: one maintenance pass compacts every level
// from one listing, the larger window merging what the smaller one just
// wrote, so a second pass finds nothing left to merge, and every record
// is still there once.
func TestCompactLevelsOnePass(t *testing.T) {
	h := backuptest.NewHarness(t, nil)
	ctx := context.Background()
	start := h.Clk.Now()
	_, ids := backuptest.Workload(t, h)
	if span := h.Clk.Now().Sub(start); span < 15*time.Minute {
		t.Fatalf("the workload spans %v: too little for three 5-minute windows", span)
	}
	h.WaitShipped()
	// Close every window with a later record.
	h.Clk.Add(3 * time.Hour)
	if _, err := h.Eng.Deliver(ctx, engine.Delivery{Recipients: []uint64{ids["alice"]}, Body: backuptest.Message(9, 100)}); err != nil {
		t.Fatal(err)
	}
	h.WaitShipped()
	levels := []time.Duration{5 * time.Minute, time.Hour}
	n, err := h.Scanner.CompactLevels(ctx, levels)
	if err != nil || n == 0 {
		t.Fatalf("first pass merged %d: %v", n, err)
	}
	if n, err := h.Scanner.CompactLevels(ctx, levels); err != nil || n != 0 {
		t.Fatalf("second pass merged %d more: %v", n, err)
	}
	checkRecordsOnce(t, h)
	segs, err := h.Repo.Segments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if chain := repository.Chain(segs, 0); len(chain) > 3 {
		t.Fatalf("%d segments in the chain after compacting by the hour: %v", len(chain), chain)
	}
}

// checkRecordsOnce checks that the repository's records come in LSN order,
// each once, up to the engine's last.
func checkRecordsOnce(t *testing.T, h *backuptest.Harness) {
	t.Helper()
	var last uint64
	if err := h.Repo.Records(context.Background(), 0, 0, func(r redolog.Record) error {
		if r.LSN <= last {
			t.Fatalf("lsn %d after %d", r.LSN, last)
		}
		last = r.LSN
		return nil
	}); err != nil || last != h.Eng.LogLastLSN() {
		t.Fatalf("records end at %d of %d: %v", last, h.Eng.LogLastLSN(), err)
	}
}
