package repository_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/enginesrc"
	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/engine"
)

// TestOwnership binds a repository to one server history: a server whose
// log continues an unowned repository adopts it, another history is
// refused without the offer to take over, the same history under another
// identity may take over, and a scanner bound to an owner that lost the
// repository stops at its next ship with a Refusal.
func TestOwnership(t *testing.T) {
	ctx := context.Background()
	h := backuptest.NewHarness(t, nil)
	e := h.Eng
	if err := e.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	acct, err := e.CreateAccount(ctx, engine.AccountSpec{Address: "dora@example.org", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(i int) {
		t.Helper()
		h.Clk.Add(time.Second)
		if _, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{acct.ID}, Body: backuptest.Message(i, 200)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		deliver(i)
	}
	h.WaitShipped()
	hist := enginesrc.New(e)
	info := repository.ClaimInfo{How: repository.ClaimTakeOver, Now: h.Clk.Now()}
	keep := func(repository.Identity) error { return nil }

	a, _ := repository.NewIdentity(h.Clk.Now())
	claim, _, err := h.Repo.CheckOwner(ctx, a, hist)
	if err != nil || claim != repository.ClaimAdopt {
		t.Fatalf("unowned repository continued by this log: claim %q, %v", claim, err)
	}
	var saved repository.Identity
	a, o, err := h.Repo.Claim(ctx, a, repository.ClaimInfo{How: claim, Now: h.Clk.Now()}, func(id repository.Identity) error { saved = id; return nil })
	if err != nil || o.Epoch != 1 || saved != a || a.Epoch != 1 || a.Repository != h.Repo.ID() {
		t.Fatalf("adopt: %+v %+v saved %+v, %v", a, o, saved, err)
	}
	if claim, _, err := h.Repo.CheckOwner(ctx, a, hist); err != nil || claim != "" {
		t.Fatalf("owner checked again: %q, %v", claim, err)
	}

	// Another data directory, another log.
	other, err := engine.Open(filepath.Join(t.TempDir(), "data"), &engine.Options{Now: h.Clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.CreateDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	b, _ := repository.NewIdentity(h.Clk.Now())
	_, _, err = h.Repo.CheckOwner(ctx, b, enginesrc.New(other))
	var r *repository.Refusal
	if !errors.As(err, &r) || !errors.Is(err, repository.ErrNotOwner) || r.CanTakeOwnership || r.Owner == nil || r.Owner.Server != a.Server {
		t.Fatalf("another history: %v (%+v)", err, r)
	}

	// The same history under a new identity (a rebuilt server) may take over.
	c, _ := repository.NewIdentity(h.Clk.Now())
	if _, _, err = h.Repo.CheckOwner(ctx, c, hist); !errors.As(err, &r) || !r.CanTakeOwnership {
		t.Fatalf("same history, other identity: %v", err)
	}
	c, o, err = h.Repo.Claim(ctx, c, info, keep)
	if err != nil || o.Epoch != 2 || len(o.Previous) != 1 || o.Previous[0].Server != a.Server {
		t.Fatalf("take over: %+v, %v", o, err)
	}
	if err := h.Repo.CheckStillOwner(ctx, a); !errors.Is(err, repository.ErrNotOwner) {
		t.Fatalf("previous owner still owns: %v", err)
	}

	// A scanner bound to a refused identity does not start; one bound to
	// the owner does, and stops at its next ship once it lost the repository.
	h.Stop()
	cat, err := catalog.Open(filepath.Join(h.Dir, "data", "backup-catalog"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	src := enginesrc.New(e)
	opts := scanner.Options{Now: h.Clk.Now, ShipInterval: 2 * time.Millisecond, NoCompaction: true, SnapshotInterval: -1,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Logger: backuptest.Quiet}
	o1 := opts
	o1.Owner = &a
	if _, err := scanner.New(h.Repo, cat, hist, src, src, &o1); !errors.Is(err, repository.ErrNotOwner) {
		t.Fatalf("scanner of a refused server: %v", err)
	}
	o2 := opts
	o2.Owner = &c
	sc, err := scanner.New(h.Repo, cat, hist, src, src, &o2)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sc.Run(ctx) }()
	deliver(10)
	for sc.Live().ShippedLSN < e.LogLastLSN() {
		time.Sleep(5 * time.Millisecond)
	}
	if _, _, err := h.Repo.Claim(ctx, a, info, keep); err != nil {
		t.Fatal(err)
	}
	shipped := sc.Live().ShippedLSN
	deliver(11)
	select {
	case err := <-done:
		if !errors.Is(err, repository.ErrNotOwner) {
			t.Fatalf("scanner stopped with %v, want a refusal", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("scanner of a server that lost the repository keeps running")
	}
	if end, err := h.Repo.End(ctx); err != nil || end != shipped {
		t.Fatalf("repository end %d after the refusal, want %d (%v)", end, shipped, err)
	}
}
