package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/operations"
	"github.com/tidemark/tidemark/restore"
)

// opSync submits an operation to the running server with --sync and
// returns the operation it printed (--json) and the exit code.
func opSync(t *testing.T, bin, dir, kind string, params any) (operations.Operation, int) {
	t.Helper()
	raw, _ := json.Marshal(params)
	cmd := exec.Command(bin, "op", "submit", kind, "--params", string(raw), "--sync", "--json", "--data", dir)
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var op operations.Operation
	if err := json.Unmarshal(out, &op); err != nil {
		t.Fatalf("%s: %v\n%s", kind, err, out)
	}
	return op, code
}

func opReport(t *testing.T, op operations.Operation) restore.Report {
	t.Helper()
	var rep restore.Report
	if err := json.Unmarshal(op.Report, &rep); err != nil {
		t.Fatalf("report of %d: %v\n%s", op.ID, err, op.Report)
	}
	return rep
}

// TestRestoresOnALiveServer runs restores as operations of a running
// server while LMTP delivers to another account and an IMAP session stays
// open on the restored one: a restore into a new account is served at
// once, an undelete and an item restore show up in the open session, an
// in-place rollback leaves the account as it was at T with its status back
// (and closes the account's IMAP session with a BYE),
// restores ignore the quota and say so, and no acknowledged delivery is
// lost meanwhile.
func TestRestoresOnALiveServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	tm(t, bin, "account", "create", "bob@example.org", "--password", "pw", "--data", dir)
	srv := startServer(t, bin, dir)
	defer func() { srv.stop(t) }()

	var acked sync.Map
	deliverN(t, srv.lmtp, "a", 30, &acked)
	waitShipped(t, bin, dir, 30)
	before := mailbox(t, srv.imap)
	time.Sleep(10 * time.Millisecond)
	atT := time.Now().UTC()
	time.Sleep(10 * time.Millisecond)

	// Deliveries to bob run through everything below.
	stopBob := make(chan struct{})
	var bobAcked sync.Map
	var bobWG sync.WaitGroup
	bobWG.Add(1)
	go func() {
		defer bobWG.Done()
		for i := 0; ; i++ {
			select {
			case <-stopBob:
				return
			default:
			}
			deliverBob(srv.lmtp, fmt.Sprintf("b%d", i), &bobAcked)
			time.Sleep(20 * time.Millisecond) // a steady trickle: the backup can still be caught level
		}
	}()

	// An IMAP session on alice stays open throughout.
	c, err := imapclient.DialInsecure(srv.imap, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.org", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// Delete the first five messages (items 1..5 of the fresh account).
	var first5 imap.SeqSet
	first5.AddRange(1, 5)
	if err := c.Store(first5, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	if n := c.Mailbox().NumMessages; n != 25 {
		t.Fatalf("INBOX holds %d after the expunge", n)
	}
	deliverN(t, srv.lmtp, "late", 3, &acked) // after T: the rollback removes them
	waitShipped(t, bin, dir, 33)

	// Into a new account, served at once.
	op, code := opSync(t, bin, dir, "restore.account", restoreAccountParams{Account: "alice@example.org",
		At: atT.Format(time.RFC3339Nano), Into: "alice2@example.org"})
	if code != 0 || op.State != operations.Done || opReport(t, op).Restored != 30 {
		t.Fatalf("restore into a new account: exit %d, %+v\n%s", code, op, op.Report)
	}
	tm(t, bin, "account", "passwd", "alice2@example.org", "--password", "pw2", "--data", dir)
	if got := mailboxOf(t, srv.imap, "alice2@example.org", "pw2"); len(got) != 30 {
		t.Fatalf("the new account serves %d messages, want 30", len(got))
	} else {
		for k, b := range before {
			if string(got[k]) != string(b) {
				t.Fatalf("message %s differs in the new account", k)
			}
		}
	}

	// A small quota: restores ignore it and the report says so.
	tm(t, bin, "account", "modify", "alice@example.org", "--quota", "1K", "--data", dir)

	// One item back into INBOX: the open session sees it on NOOP.
	op, code = opSync(t, bin, dir, "restore.item", restoreItemParams{Account: "alice@example.org", Item: 3})
	if code != 0 || opReport(t, op).Restored != 1 {
		t.Fatalf("item restore: exit %d, %+v\n%s", code, op, op.Report)
	}
	if !strings.Contains(string(op.Report), "over quota after the restore") {
		t.Errorf("item restore over quota not reported: %s", op.Report)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := c.Mailbox().NumMessages; n != 29 { // 25 + 3 late + the restored one
		t.Fatalf("the open session sees %d messages after the item restore, want 29", n)
	}

	// Undelete: the new folder is listed in the open session.
	op, code = opSync(t, bin, dir, "restore.undelete", restoreUndeleteParams{Account: "alice@example.org"})
	if code != 0 || opReport(t, op).Restored < 4 {
		t.Fatalf("undelete: exit %d, %+v\n%s", code, op, op.Report)
	}
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	restored := ""
	for _, b := range boxes {
		if strings.HasPrefix(b.Mailbox, "Restored ") && !strings.Contains(b.Mailbox, "/") {
			restored = b.Mailbox
		}
	}
	if restored == "" {
		t.Fatalf("the open session lists no Restored folder: %+v", boxes)
	}

	// In-place rollback to T: INBOX as it was, status back to active.
	op, code = opSync(t, bin, dir, "restore.account", restoreAccountParams{Account: "alice@example.org",
		At: atT.Format(time.RFC3339Nano), InPlace: true})
	if code != 0 || op.State != operations.Done {
		t.Fatalf("in-place rollback: exit %d, %+v\n%s", code, op, op.Report)
	}
	var accts []engine.Account
	if err := json.Unmarshal([]byte(tm(t, bin, "account", "show", "alice@example.org", "--json", "--data", dir)), &accts); err != nil {
		t.Fatal(err)
	}
	if len(accts) != 1 || accts[0].Status != "active" {
		t.Fatalf("after the rollback: %+v", accts)
	}
	// The session open on alice was closed when the rollback put her in
	// maintenance.
	if err := c.Noop().Wait(); err == nil {
		t.Fatal("the IMAP session on alice survived her in-place rollback")
	}
	after := mailbox(t, srv.imap)
	if len(after) != 30 {
		t.Fatalf("INBOX holds %d after the rollback, want the 30 of T", len(after))
	}
	for k, b := range before {
		if string(after[k]) != string(b) {
			t.Fatalf("message %s differs after the rollback", k)
		}
	}

	close(stopBob)
	bobWG.Wait()
	bob := mailboxOf(t, srv.imap, "bob@example.org", "pw")
	n := 0
	bobAcked.Range(func(k, _ any) bool {
		n++
		if _, ok := bob[k.(string)]; !ok {
			t.Errorf("bob's acknowledged %s is missing", k)
		}
		return true
	})
	if n == 0 {
		t.Fatal("no delivery to bob was acknowledged during the restores")
	}
}

// deliverBob delivers one message to bob and records it when acknowledged.
func deliverBob(addr, id string, acked *sync.Map) {
	var got sync.Map
	deliverLimitTo(addr, id, "bob@example.org", &got)
	got.Range(func(k, v any) bool { acked.Store(k, v); return true })
}

// deliverLimitTo delivers one message with Message-ID <id@drill> to rcpt
// over a new LMTP connection and records id when it is acknowledged.
func deliverLimitTo(addr, id, rcpt string, acked *sync.Map) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if c.Hello("drill") != nil || c.Mail("drill@example.org", nil) != nil || c.Rcpt(rcpt, nil) != nil {
		return
	}
	w, err := c.Data()
	if err != nil {
		return
	}
	if _, err := w.Write(drillMessage(id)); err != nil {
		return
	}
	if res, err := w.CloseWithLMTPResponse(); err == nil {
		if _, ok := res[rcpt]; ok {
			acked.Store(id, true)
		}
	}
}
