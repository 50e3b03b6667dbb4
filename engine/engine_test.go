package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

var ctx = context.Background()

// fixedClock is a clock that advances one second per call; safe for
// concurrent callers (deliverers read it on their own goroutines).
func fixedClock() func() time.Time {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var n atomic.Int64
	return func() time.Time {
		return start.Add(time.Duration(n.Add(1)) * time.Second)
	}
}

func testOptions(fs vfs.FS) *Options {
	return &Options{FS: fs, Now: fixedClock(), BcryptCost: 4, CheckpointInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func openTest(t testing.TB, fs vfs.FS, dir string) *Engine {
	t.Helper()
	e, err := Open(dir, testOptions(fs))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return e
}

// newEngine opens an engine on a fresh in-memory FS with one domain and one
// account.
func newEngine(t testing.TB) (*Engine, Account) {
	t.Helper()
	e := openTest(t, vfs.NewMem(), "data")
	t.Cleanup(func() { e.Close() })
	if err := e.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "alice@example.org", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	return e, a
}

func TestOpenDeliverRead(t *testing.T) {
	e, a := newEngine(t)
	inbox, err := e.FolderByPath(ctx, a.ID, "inbox")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("Subject: hi\r\n\r\nhello\r\n")
	res, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: body})
	if err != nil || res[0].Err != nil {
		t.Fatalf("deliver: %v %+v", err, res)
	}
	items, err := e.ListItems(ctx, a.ID, inbox.ID)
	if err != nil || len(items) != 1 || items[0].UID != 1 {
		t.Fatalf("items %+v %v", items, err)
	}
	got, err := e.ReadBlobRange(ctx, a.ID, items[0].ID, 0, -1)
	if err != nil || string(got) != string(body) {
		t.Fatalf("read %q %v", got, err)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func newMem() *vfs.MemFS { return vfs.NewMem() }
