package scanner_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
)

// countLists counts the listings of a volume.
type countLists struct {
	hsm.Volume
	n atomic.Int64
}

func (c *countLists) List(ctx context.Context, prefix string, fn func(hsm.ObjectInfo) error) error {
	c.n.Add(1)
	return c.Volume.List(ctx, prefix, fn)
}

// TestStatusLagIsOldestUnshipped: on a quiet server whose last shipped
// record is an hour old, a record that waits 5 s (the repository is down)
// shows a lag of 5 s, not an hour.
func TestStatusLagIsOldestUnshipped(t *testing.T) {
	var f *hsm.Faulty
	h := backuptest.NewHarness(t, func(v hsm.Volume) hsm.Volume { f = hsm.NewFaulty(v); return f })
	ctx := context.Background()
	if err := h.Eng.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := h.Eng.CreateAccount(ctx, engine.AccountSpec{Address: "dora@example.org", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	h.WaitShipped()
	if st := h.Scanner.Live(); st.LagRecords != 0 || st.LagSeconds != 0 {
		t.Fatalf("level backup shows a lag: %+v", st)
	}
	h.Clk.Add(time.Hour)
	f.SetOutage(true)
	if _, err := h.Eng.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: backuptest.Message(1, 300)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.Scanner.Live().State != "failing" {
		if time.Now().After(deadline) {
			t.Fatalf("outage not seen: %+v", h.Scanner.Live())
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.Clk.Add(5 * time.Second)
	st := h.Scanner.Live()
	if st.LagRecords == 0 || st.LagSeconds < 4.9 || st.LagSeconds > 5.1 {
		t.Fatalf("lag %d records, %.1f s; want the waiting record's 5 s", st.LagRecords, st.LagSeconds)
	}
	f.SetOutage(false)
	h.WaitShipped()
	if st := h.Scanner.Live(); st.LagRecords != 0 || st.LagSeconds != 0 {
		t.Fatalf("after catching up: %+v", st)
	}
}

// TestStatusFiguresCached: however often Status is polled, the repository
// is listed again only once the figures are StatusMinAge old and something
// shipped since; fresh forces it.
func TestStatusFiguresCached(t *testing.T) {
	var c *countLists
	h := backuptest.NewHarness(t, func(v hsm.Volume) hsm.Volume { c = &countLists{Volume: v}; return c })
	ctx := context.Background()
	if err := h.Eng.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := h.Eng.CreateAccount(ctx, engine.AccountSpec{Address: "eve@example.org", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Eng.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: backuptest.Message(2, 4000)}); err != nil {
		t.Fatal(err)
	}
	h.WaitShipped()
	first := h.Scanner.Status(ctx, false)
	if first.FiguresTime.IsZero() || first.RepositoryBytes == 0 || first.Segments == 0 {
		t.Fatalf("first status has no figures: %+v", first)
	}
	lists := c.n.Load()
	for i := 0; i < 100; i++ {
		if st := h.Scanner.Status(ctx, false); st.RepositoryBytes != first.RepositoryBytes {
			t.Fatalf("cached figures changed: %+v", st)
		}
	}
	if n := c.n.Load(); n != lists {
		t.Fatalf("100 polls listed the repository %d more times", n-lists)
	}
	if _, err := h.Eng.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: backuptest.Message(3, 9000)}); err != nil {
		t.Fatal(err)
	}
	h.WaitShipped()
	h.Clk.Add(scanner.StatusMinAge)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := h.Scanner.Status(ctx, false)
		if st.FiguresTime.After(first.FiguresTime) {
			if st.RepositoryBytes <= first.RepositoryBytes {
				t.Fatalf("refreshed figures did not grow: %d then %d bytes", first.RepositoryBytes, st.RepositoryBytes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("figures not refreshed after StatusMinAge")
		}
		time.Sleep(5 * time.Millisecond)
	}
	lists = c.n.Load()
	if st := h.Scanner.Status(ctx, true); st.FiguresTime.IsZero() || c.n.Load() == lists {
		t.Fatalf("a fresh status did not list the repository: %+v", st)
	}
}
