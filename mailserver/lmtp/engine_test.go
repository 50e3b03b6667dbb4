package lmtp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/memvol"
)

// The tests in this file run the server over the real engine: engine.Open
// on a temporary directory, real Pebble and redo log, a real socket.

var _ Backend = (*engine.Engine)(nil)

func openEngine(t testing.TB, opts *engine.Options) *engine.Engine {
	t.Helper()
	var o engine.Options
	if opts != nil {
		o = *opts
	}
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := engine.Open(t.TempDir(), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("engine close: %v", err)
		}
	})
	if err := e.CreateDomain(ctxT(t), "example.com"); err != nil {
		t.Fatal(err)
	}
	return e
}

func createAccount(t testing.TB, e *engine.Engine, addr string, status event.AccountStatus, quota int64, aliases ...string) uint64 {
	t.Helper()
	spec := engine.AccountSpec{Address: addr, Password: "secret", Status: status, Aliases: aliases}
	if quota > 0 {
		spec.Quota = &quota
	}
	a, err := e.CreateAccount(ctxT(t), spec)
	if err != nil {
		t.Fatalf("create %s: %v", addr, err)
	}
	return a.ID
}

// inbox returns the INBOX items of an account and their bytes, read back
// through the engine.
func inbox(t testing.TB, e *engine.Engine, acct uint64) ([]engine.Item, [][]byte) {
	t.Helper()
	ctx := ctxT(t)
	f, err := e.FolderByPath(ctx, acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	items, err := e.ListItems(ctx, acct, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	var bodies [][]byte
	for _, it := range items {
		rc, _, err := e.OpenBlob(ctx, acct, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	return items, bodies
}

func TestEngineMixedTransaction(t *testing.T) {
	e := openEngine(t, nil)
	ok := createAccount(t, e, "ok@example.com", event.StatusActive, 0, "alias@example.com")
	full := createAccount(t, e, "full@example.com", event.StatusActive, 50)
	locked := createAccount(t, e, "locked@example.com", event.StatusLocked, 0)
	createAccount(t, e, "closed@example.com", event.StatusClosed, 0)
	createAccount(t, e, "maint@example.com", event.StatusMaintenance, 0)
	_, addr := startServer(t, e, nil)

	cl := dial(t, addr)
	cl.lhlo()
	cl.send("MAIL FROM:<sender@example.org> SIZE=100",
		"RCPT TO:<ok@example.com>",
		"RCPT TO:<nobody@example.com>",
		"RCPT TO:<full@example.com>",
		"RCPT TO:<closed@example.com>",
		"RCPT TO:<maint@example.com>",
		"RCPT TO:<Alias@Example.com>",
		"RCPT TO:<locked@example.com>",
		"DATA")
	cl.expect(250, "2.0.0")
	cl.expect(250, "2.0.0")
	cl.expect(550, "5.1.1")
	cl.expect(250, "2.0.0")
	cl.expect(550, "5.2.1")
	cl.expect(450, "4.2.1")
	cl.expect(250, "2.0.0")
	cl.expect(250, "2.0.0")
	cl.expect(354, "")
	cl.sendBody(testMsg)
	cl.expectRcpt("ok@example.com", 250, "2.0.0")
	cl.expectRcpt("full@example.com", 552, "5.2.2")
	cl.expectRcpt("Alias@Example.com", 250, "2.0.0")
	cl.expectRcpt("locked@example.com", 250, "2.0.0")

	want := "Return-Path: <sender@example.org>\r\n" + testMsg
	var digests []string
	for _, id := range []uint64{ok, locked} {
		items, bodies := inbox(t, e, id)
		if len(items) != 1 || string(bodies[0]) != want {
			t.Fatalf("account %d: %d items %q, want one %q", id, len(items), bodies, want)
		}
		digests = append(digests, items[0].Digest.String())
	}
	if digests[0] != digests[1] {
		t.Fatalf("one message stored under two digests %v", digests)
	}
	if items, _ := inbox(t, e, full); len(items) != 0 {
		t.Fatalf("over-quota account holds %d items", len(items))
	}
	if used, _, err := e.Quota(ctxT(t), full); err != nil || used != 0 {
		t.Fatalf("over-quota account uses %d bytes (%v)", used, err)
	}
}

// TestEngineStoredOnce: one message to several recipients is one blob,
// byte-identical for all (so no Delivered-To); the same message to one
// recipient carries Delivered-To.
func TestEngineStoredOnce(t *testing.T) {
	primary := memvol.New(nil)
	e := openEngine(t, &engine.Options{Primary: primary, InlineBlobMax: -1})
	var ids []uint64
	for _, a := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		ids = append(ids, createAccount(t, e, a, event.StatusActive, 0))
	}
	_, addr := startServer(t, e, nil)
	cl := dial(t, addr)
	cl.lhlo()
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<a@example.com>", "RCPT TO:<b@example.com>", "RCPT TO:<c@example.com>")
	for range 4 {
		cl.expect(250, "")
	}
	cl.data(testMsg)
	for _, r := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		cl.expectRcpt(r, 250, "2.0.0")
	}
	var first engine.Item
	for i, id := range ids {
		items, bodies := inbox(t, e, id)
		if len(items) != 1 || string(bodies[0]) != "Return-Path: <s@example.org>\r\n"+testMsg {
			t.Fatalf("account %d holds %q", id, bodies)
		}
		if i == 0 {
			first = items[0]
		} else if items[0].Digest != first.Digest {
			t.Fatalf("digest %s differs from %s", items[0].Digest, first.Digest)
		}
	}
	if n := countObjects(t, primary); n != 1 {
		t.Fatalf("primary volume holds %d objects for one message to three recipients", n)
	}

	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<a@example.com>")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.data(testMsg)
	cl.expectRcpt("a@example.com", 250, "2.0.0")
	_, bodies := inbox(t, e, ids[0])
	if want := "Return-Path: <s@example.org>\r\nDelivered-To: a@example.com\r\n" + testMsg; len(bodies) != 2 || string(bodies[1]) != want {
		t.Fatalf("single-recipient delivery stored %q, want %q", bodies[len(bodies)-1], want)
	}
}

func countObjects(t testing.TB, v hsm.Volume) int {
	t.Helper()
	n := 0
	if err := v.List(ctxT(t), "", func(hsm.ObjectInfo) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEngineStorageFailure: the primary volume fails while a delivery
// writes its blob; every recipient gets 451 4.3.0 without internal text,
// nothing is stored, and delivery works again once the volume is back.
func TestEngineStorageFailure(t *testing.T) {
	faulty := hsm.NewFaulty(memvol.New(nil))
	e := openEngine(t, &engine.Options{Primary: faulty, InlineBlobMax: -1})
	a := createAccount(t, e, "a@example.com", event.StatusActive, 0)
	b := createAccount(t, e, "b@example.com", event.StatusActive, 0)
	_, addr := startServer(t, e, nil)

	faulty.SetOutageErr(true, hsm.Permanent(errors.New("disk /dev/vdz1 is on fire")))
	cl := dial(t, addr)
	cl.lhlo()
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<a@example.com>", "RCPT TO:<b@example.com>")
	for range 3 {
		cl.expect(250, "")
	}
	cl.data(testMsg)
	for _, r := range []string{"a@example.com", "b@example.com"} {
		code, msg := cl.reply()
		if code != 451 || !strings.HasPrefix(msg, "4.3.0 <"+r+">") || strings.Contains(msg, "fire") || strings.Contains(msg, "engine") {
			t.Fatalf("reply for %s: %d %q", r, code, msg)
		}
	}
	for _, id := range []uint64{a, b} {
		if items, _ := inbox(t, e, id); len(items) != 0 {
			t.Fatalf("account %d holds %d items after a failed delivery", id, len(items))
		}
	}
	if faulty.Failures(hsm.OpPut) == 0 {
		t.Fatal("the delivery never reached the volume")
	}

	faulty.SetOutage(false)
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<a@example.com>")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.data(testMsg)
	cl.expectRcpt("a@example.com", 250, "2.0.0")
	if items, _ := inbox(t, e, a); len(items) != 1 {
		t.Fatalf("%d items after the volume came back", len(items))
	}
}

// TestEngineSizeLimit: the engine's limit counts the prepended lines, so a
// message just under the LMTP limit can still be too large for the engine:
// that is 552 5.3.4 too, never 451.
func TestEngineSizeLimit(t *testing.T) {
	const limit = 2000
	e := openEngine(t, &engine.Options{MaxMessageSize: limit})
	id := createAccount(t, e, "u@example.com", event.StatusActive, 0)
	_, addr := startServer(t, e, &Options{MaxMessageSize: limit})
	cl := dial(t, addr)
	cl.lhlo()
	cl.send("MAIL FROM:<s@example.org> SIZE=2001")
	cl.expect(552, "5.3.4")

	body := "Subject: x\r\n\r\n" + strings.Repeat(strings.Repeat("z", 78)+"\r\n", 24) + strings.Repeat("y", 50) + "\r\n"
	if len(body) >= limit || len(body)+len("Return-Path: <s@example.org>\r\n") <= limit {
		t.Fatalf("body of %d bytes does not straddle the limit", len(body))
	}
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<u@example.com>")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.data(body)
	cl.expectRcpt("u@example.com", 552, "5.3.4")
	if items, _ := inbox(t, e, id); len(items) != 0 {
		t.Fatalf("%d items stored", len(items))
	}
}

// TestEngineDeliversAfterRestart: a 250 means durable: the message is
// there after the engine is closed and opened again.
func TestEngineDeliversAfterRestart(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := engine.Open(dir, &engine.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	id := createAccount(t, e, "u@example.com", event.StatusActive, 0)
	s, addr := startServer(t, e, nil)
	cl := dial(t, addr)
	cl.lhlo()
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<u@example.com>")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.data(testMsg)
	cl.expectRcpt("u@example.com", 250, "2.0.0")
	s.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2, err := engine.Open(dir, &engine.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	_, bodies := inbox(t, e2, id)
	if len(bodies) != 1 || !bytes.HasSuffix(bodies[0], []byte(testMsg)) {
		t.Fatalf("after reopen: %q", bodies)
	}
}
