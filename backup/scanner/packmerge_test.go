package scanner_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
)

// quietTraffic delivers n messages to one account, one a second on the
// test clock, each shipped alone (so each writes a pack of its own), and
// calls every(i) after each.
func quietTraffic(t *testing.T, h *backuptest.Harness, n int, every func(i int)) (acct uint64) {
	t.Helper()
	ctx := context.Background()
	if err := h.Eng.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := h.Eng.CreateAccount(ctx, engine.AccountSpec{Address: "quiet@example.org", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if !h.Paced {
			h.Clk.Add(time.Second) // a paced harness moves it in waitShipped
		}
		if _, err := h.Eng.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: backuptest.Message(1000+i, 2000+i%7*300)}); err != nil {
			t.Fatal(err)
		}
		h.WaitShipped()
		if every != nil {
			every(i)
		}
	}
	return a.ID
}

func countObjects(t *testing.T, vol hsm.Volume) map[string]int {
	t.Helper()
	n := map[string]int{}
	if err := vol.List(context.Background(), "", func(o hsm.ObjectInfo) error {
		n[o.Name[:strings.IndexByte(o.Name+"/", '/')]]++
		n["total"]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// readAllBlobs reads every blob the catalog references through a fresh
// repository on vol.
func readAllBlobs(t *testing.T, cat *catalog.Catalog, vol hsm.Volume, acct uint64, at time.Time) int {
	t.Helper()
	ctx := context.Background()
	r := backuptest.MustOpenForTest(t, vol)
	st, err := cat.AccountAt(ctx, acct, at)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range st.Items {
		raw, err := r.ReadBlob(ctx, dedup.Digest(it.Digest))
		if err != nil || dedup.Sum(raw) != dedup.Digest(it.Digest) {
			t.Fatalf("item %d: %v", it.ID, err)
		}
	}
	return len(st.Items)
}

// TestPackMergeQuietServer: many small ships make many packs; maintenance
// merges them into a handful, keeps the merged-away packs for the grace
// period (a copy listed before the merge restores), then deletes them.
func TestPackMergeQuietServer(t *testing.T) {
	h := backuptest.NewPacedHarness(t, nil)
	ctx := context.Background()
	const n = 90
	acct := quietTraffic(t, h, n, nil)
	before := countObjects(t, h.Vol)
	if before["packs"] < n/2 {
		t.Fatalf("%d packs for %d ships", before["packs"], n)
	}
	var listed []string // a copy (rsync) lists now and copies later
	if err := h.Vol.List(ctx, "", func(o hsm.ObjectInfo) error { listed = append(listed, o.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	// Only the windows that have passed merge: the packs of the last
	// window (the one the clock is in) stay as they are.
	if m, err := h.Scanner.MergePacks(ctx); err != nil || m < n/2 || m > n-1 {
		t.Fatalf("merged %d packs of %d, the last window still open: %v", m, n, err)
	}
	mid := countObjects(t, h.Vol)
	if mid["packs"] <= before["packs"] {
		t.Fatalf("merged-away packs deleted at once: %d packs, %d before", mid["packs"], before["packs"])
	}
	// Every blob reads (from the merged pack) while both copies exist.
	items := readAllBlobs(t, h.Cat, h.Vol, acct, h.Clk.Now())
	if items != n {
		t.Fatalf("%d items", items)
	}
	// The copy, made now from the listing taken before the merge.
	copyDir := filepath.Join(t.TempDir(), "copy")
	cp, err := localvol.New(vfs.Default, copyDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range listed {
		b, err := hsm.ReadAll(ctx, h.Vol, name)
		if err != nil {
			t.Fatalf("copy %s: %v", name, err)
		}
		if err := hsm.PutBytes(ctx, cp, name, b); err != nil {
			t.Fatal(err)
		}
	}
	// Within the grace period nothing goes; after it the merged-away
	// packs do.
	h.Clk.Add(9 * time.Minute)
	if _, err := h.Scanner.MergePacks(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range listed {
		if _, err := h.Vol.Stat(ctx, name); err != nil {
			t.Fatalf("%s deleted within the grace period: %v", name, err)
		}
	}
	h.Clk.Add(2 * time.Minute)
	if _, err := h.Scanner.MergePacks(ctx); err != nil {
		t.Fatal(err)
	}
	if c := countObjects(t, h.Vol); c["packs"] >= before["packs"]/2 {
		t.Fatalf("%d packs after the grace period, %d before", c["packs"], before["packs"])
	}
	// An hour on, what is left merges too.
	h.Clk.Add(2 * time.Hour)
	for i := 0; i < 2; i++ {
		if _, err := h.Scanner.MergePacks(ctx); err != nil {
			t.Fatal(err)
		}
		h.Clk.Add(11 * time.Minute)
	}
	if _, err := h.Scanner.MergePacks(ctx); err != nil {
		t.Fatal(err)
	}
	after := countObjects(t, h.Vol)
	t.Logf("%d ships: %d packs before maintenance, %d after merge, %d after the grace period", n, before["packs"], mid["packs"], after["packs"])
	if after["packs"] > 3 {
		t.Fatalf("%d packs after maintenance", after["packs"])
	}
	if w, err := h.Cat.PendingDeletes(); err != nil || len(w) != 0 {
		t.Fatalf("still waiting: %v %v", w, err)
	}
	readAllBlobs(t, h.Cat, h.Vol, acct, h.Clk.Now())
	// The repository alone rebuilds the catalog; verify is clean.
	ref, err := h.Cat.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for what, vol := range map[string]hsm.Volume{"repository": h.Vol, "copy taken during the merge": cp} {
		r := backuptest.MustOpenForTest(t, vol)
		fresh, err := catalog.Rebuild(ctx, r, "r", vfs.NewMem())
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if d, _ := fresh.Digest(ctx); d != ref {
			t.Errorf("%s: rebuilt catalog differs", what)
		}
		readAllBlobs(t, fresh, vol, acct, h.Clk.Now())
		vr, err := maint.Verify(ctx, r, fresh, maint.VerifyOptions{ReadData: true})
		if err != nil || len(vr.Problems) != 0 {
			t.Errorf("%s: verify: %+v %v", what, vr.Problems, err)
		}
		fresh.Close()
	}
	vr, err := maint.Verify(ctx, backuptest.MustOpenForTest(t, h.Vol), h.Cat, maint.VerifyOptions{ReadData: true})
	if err != nil || len(vr.Problems) != 0 {
		t.Fatalf("verify: %+v %v", vr.Problems, err)
	}
}

// TestObjectCountQuietTraffic measures the repository's object count
// after 30 minutes of one message a second (15 minutes with -short), with
// maintenance as the scanner runs it: a pass every 15 s (half the
// smallest window), segment compaction and pack merges.
func TestObjectCountQuietTraffic(t *testing.T) {
	n := 1800
	if testing.Short() {
		n = 900
	}
	// Files in memory: what is measured is the object count, and 1,800
	// ships with their fsyncs take minutes on a shared disk.
	h := backuptest.NewPacedHarness(t, vfs.NewMem())
	ctx := context.Background()
	levels := []time.Duration{30 * time.Second, 5 * time.Minute, time.Hour}
	maintain := func() {
		for _, w := range levels {
			if _, err := h.Scanner.Compact(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := h.Scanner.MergePacks(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// livePacks counts the packs not waiting for deletion.
	livePacks := func() int {
		w, err := h.Cat.PendingDeletes()
		if err != nil {
			t.Fatal(err)
		}
		return countObjects(t, h.Vol)["packs"] - len(w)
	}
	peak := 0
	quietTraffic(t, h, n, func(i int) {
		if (i+1)%15 == 0 {
			maintain()
			peak = max(peak, livePacks())
		}
	})
	c, live := countObjects(t, h.Vol), livePacks()
	t.Logf("after %d s of 1 msg/s: %d objects: %d packs (%d live, peak %d live; the rest wait out the 10 min grace), %d segments",
		n, c["total"], c["packs"], live, peak, c["log"])
	// Live: the last 30 s window's packs, one per passed 30 s window of
	// the current 5 min, one per passed 5 min window of the hour.
	if live > 30+10+12 || c["packs"] > 15*60+live {
		t.Fatalf("%d packs, %d live, after %d ships", c["packs"], live, n)
	}
	// Once the hour and the grace period have passed: a handful.
	h.Clk.Add(2 * time.Hour)
	maintain()
	h.Clk.Add(11 * time.Minute)
	maintain()
	c = countObjects(t, h.Vol)
	t.Logf("an hour later: %d objects: %d packs, %d segments", c["total"], c["packs"], c["log"])
	if c["packs"] > 3 {
		t.Fatalf("%d packs an hour later", c["packs"])
	}
}
