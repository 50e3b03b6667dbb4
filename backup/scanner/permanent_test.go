package scanner_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
)

// TestScannerStopsOnPermanentError: a repository that refuses a write for
// good (permissions, a bucket policy) is not retried forever: the scanner
// stops after one attempt, Status says "stopped" and why, Run returns the
// error, and the engine keeps taking mail.
func TestScannerStopsOnPermanentError(t *testing.T) {
	var f *hsm.Faulty
	h := backuptest.NewHarness(t, func(v hsm.Volume) hsm.Volume { f = hsm.NewFaulty(v); return f })
	ctx := context.Background()
	e := h.Eng
	if err := e.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := e.CreateAccount(ctx, engine.AccountSpec{Address: "carol@example.org", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	h.WaitShipped()
	refused := hsm.Permanent(errors.New("bucket policy refuses writes"))
	f.SetOutageErr(true, refused)
	if _, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: backuptest.Message(1, 3000)}); err != nil {
		t.Fatalf("engine refused mail: %v", err)
	}
	var runErr error
	select {
	case runErr = <-h.Done:
	case <-time.After(20 * time.Second):
		t.Fatalf("scanner still running on a permanent error: %+v (%d failed calls)", h.Scanner.Live(), f.Failures(hsm.OpAny))
	}
	h.Cancel()
	h.Cancel = nil
	h.Cat.Close()
	if !errors.Is(runErr, refused) {
		t.Fatalf("Run returned %v", runErr)
	}
	st := h.Scanner.Live()
	if st.State != "stopped" || !strings.Contains(st.LastError, "bucket policy refuses writes") || !strings.Contains(st.LastError, "restart") {
		t.Fatalf("status after a permanent error: %+v", st)
	}
	if n := f.Failures(hsm.OpPut); n != 1 {
		t.Fatalf("the refused write was tried %d times", n)
	}
	if _, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: backuptest.Message(2, 3000)}); err != nil {
		t.Fatalf("engine refused mail after the scanner stopped: %v", err)
	}
}
