package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// lmtpTo delivers n messages to rcpt over LMTP, each with its own
// Message-ID (prefix-i).
func lmtpTo(t *testing.T, addr, rcpt, prefix string, n int) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("hsm"); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if err := c.Mail("sender@example.org", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		msg := "From: sender@example.org\r\nTo: " + rcpt + "\r\nSubject: " + id + "\r\nMessage-ID: <" + id + "@hsm>\r\n\r\n" +
			strings.Repeat("line of "+id+"\r\n", 50+i)
		if _, err := w.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.CloseWithLMTPResponse(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHSMRestoreServerThreeVolumes: a server whose blobs are spread over
// three volumes (carol's on the primary, alice's on one secondary, bob's
// on another) is rebuilt by restore server with every blob on the volume
// it was on, and every message reads back byte for byte over IMAP. A
// restore into an account with --obey-hsm-policy moves the restored blobs
// the policy selects to the current secondary.
func TestHSMRestoreServerThreeVolumes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	dir := filepath.Join(top, "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	users := []string{"alice", "bob", "carol"}
	for _, u := range users {
		tm(t, bin, "account", "create", u+"@example.org", "--password", "pw", "--data", dir)
	}
	s := startServer(t, bin, dir)
	for _, u := range users {
		lmtpTo(t, s.lmtp, u+"@example.org", u, 4)
	}
	tm(t, bin, "volume", "create", "cold", "--compress", "--data", dir)
	tm(t, bin, "volume", "create", "colder", "--path", filepath.Join(top, "colder-disk"), "--data", dir)
	tm(t, bin, "volume", "set-current", "cold", "--data", dir)
	tm(t, bin, "hsm", "policy", "set", "message:in:INBOX", "--data", dir)
	tm(t, bin, "hsm", "move", "--sync", "--account", "alice@example.org", "--data", dir)
	tm(t, bin, "hsm", "move", "--sync", "--account", "bob@example.org", "--to", "colder", "--data", dir)
	st := volumeStats(t, bin, dir)
	if st["primary"].Blobs != 4 || st["cold"].Blobs != 4 || st["colder"].Blobs != 4 {
		t.Fatalf("stats before the rebuild: %+v", st)
	}
	waitShipped(t, bin, dir, 12)

	// --obey-hsm-policy: carol restored into carol2; the policy selects
	// the restored items, so their blobs (shared with carol's) go to cold.
	rep := tm(t, bin, "restore", "account", "carol@example.org", "--at", "last", "--into", "carol2@example.org",
		"--obey-hsm-policy", "--sync", "--data", dir)
	if !strings.Contains(rep, "HSM policy: moved 4 restored blob(s)") || !strings.Contains(rep, "to cold") {
		t.Fatalf("restore --obey-hsm-policy:\n%s", rep)
	}
	users = append(users, "carol2")
	lmtpTo(t, s.lmtp, "carol@example.org", "late", 3)
	st = volumeStats(t, bin, dir)
	if st["primary"].Blobs != 3 || st["cold"].Blobs != 8 || st["colder"].Blobs != 4 {
		t.Fatalf("stats before the rebuild: %+v", st)
	}
	want := map[string]map[string][]byte{}
	for _, u := range users {
		want[u] = mailboxOf(t, s.imap, u+"@example.org", "pw")
		if n := map[string]int{"carol": 7}[u]; len(want[u]) != max(n, 4) {
			t.Fatalf("%s has %d messages", u, len(want[u]))
		}
	}
	// The records of the moves are shipped, and with them the volumes.
	waitShipped(t, bin, dir, 15)
	s.stop(t)
	if out, code := tmRun(t, bin, "restore", "server", "--from", filepath.Join(top, "tidemark-backup"), "--obey-hsm-policy",
		"--data", filepath.Join(top, "x")); code != exitUsage || !strings.Contains(out, "restore server puts every blob") {
		t.Fatalf("restore server --obey-hsm-policy: exit %d\n%s", code, out)
	}

	// colder lives outside the data directory: the rebuild writes bob's
	// blobs where that volume is recorded; move it away first so that
	// they come from the repository.
	rebuilt := filepath.Join(top, "rebuilt")
	if err := os.Rename(filepath.Join(top, "colder-disk"), filepath.Join(top, "colder-old")); err != nil {
		t.Fatal(err)
	}
	tm(t, bin, "restore", "server", "--from", filepath.Join(top, "tidemark-backup"), "--data", rebuilt)
	r := startServer(t, bin, rebuilt, "--no-backup")
	defer r.stop(t)
	for _, u := range users {
		got := mailboxOf(t, r.imap, u+"@example.org", "pw")
		for id, b := range want[u] {
			if !bytes.Equal(got[id], b) {
				t.Fatalf("rebuilt %s: message %s differs (%d bytes, want %d)", u, id, len(got[id]), len(b))
			}
		}
		if len(got) != len(want[u]) {
			t.Fatalf("rebuilt %s: %d messages, want %d", u, len(got), len(want[u]))
		}
	}
	st = volumeStats(t, bin, rebuilt)
	if st["primary"].Blobs != 3 || st["cold"].Blobs != 8 || st["colder"].Blobs != 4 || st["cold"].Objects != 8 || st["colder"].Objects != 4 {
		t.Fatalf("stats of the rebuilt server: %+v", st)
	}
	if out := tm(t, bin, "hsm", "check", "--sync", "--data", rebuilt); !strings.Contains(out, "0 missing, 0 corrupt, 0 orphan(s)") {
		t.Fatalf("check of the rebuilt server:\n%s", out)
	}
}
