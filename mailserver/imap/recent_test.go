package imap

import (
	"strings"
	"testing"
	"time"
)

// TestRecent: \Recent as RFC 3501 section 2.3.2 defines it: a message is
// recent in the one session first told of it (by SELECT or an EXISTS
// update), EXAMINE and STATUS only look, and SEARCH RECENT/NEW/OLD use it.
// It used to be never set, with "* 0 RECENT" always.
func TestRecent(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	login := func() *rawConn {
		r := env.raw()
		r.cmd("LOGIN alice@example.com %s", testPassword)
		return r
	}
	c := login()
	for i := 1; i <= 2; i++ {
		lastOK(t, "APPEND", c.cmd("APPEND INBOX {6+}\r\nA: b\r\n"))
	}
	joined := func(l []string) string { return strings.Join(l, "") }

	if l := joined(c.cmd("STATUS INBOX (RECENT)")); !strings.Contains(l, "(RECENT 2)") {
		t.Fatalf("STATUS before any SELECT: %q", l)
	}
	b := login()
	if l := joined(b.cmd("EXAMINE INBOX")); !strings.Contains(l, "* 2 RECENT") {
		t.Fatalf("EXAMINE: %q, want 2 RECENT without claiming them", l)
	}
	a := login()
	if l := joined(a.cmd("SELECT INBOX")); !strings.Contains(l, "* 2 RECENT") {
		t.Fatalf("first SELECT: %q, want 2 RECENT", l)
	}
	if l := joined(a.cmd("FETCH 1 FLAGS")); !strings.Contains(l, `FLAGS (\Recent)`) {
		t.Fatalf("FETCH FLAGS in the claiming session: %q", l)
	}
	if l := joined(b.cmd("SELECT INBOX")); !strings.Contains(l, "* 0 RECENT") {
		t.Fatalf("second SELECT: %q, want 0 RECENT", l)
	}
	if l := joined(b.cmd("FETCH 1 FLAGS")); strings.Contains(l, `\Recent`) {
		t.Fatalf("FETCH FLAGS in another session: %q", l)
	}

	// A new message: the selected session that hears of it claims it.
	lastOK(t, "APPEND", c.cmd("APPEND INBOX {6+}\r\nA: c\r\n"))
	// The change reaches A's session asynchronously: NOOP until it has.
	l := ""
	for i := 0; i < 100 && !strings.Contains(l, "EXISTS"); i++ {
		if i > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		l = joined(a.cmd("NOOP"))
	}
	if !strings.Contains(l, "* 3 EXISTS") || !strings.Contains(l, "* 3 RECENT") {
		t.Fatalf("NOOP after a delivery: %q, want 3 EXISTS and 3 RECENT", l)
	}
	a.cmd(`STORE 2 +FLAGS.SILENT (\Seen)`)
	for q, want := range map[string]string{"RECENT": "* SEARCH 1 2 3\r\n", "NEW": "* SEARCH 1 3\r\n", "OLD": "* SEARCH\r\n"} {
		l := a.cmd("SEARCH " + q)
		if got := joined(l[:len(l)-1]); got != want {
			t.Errorf("SEARCH %s = %q, want %q", q, got, want)
		}
	}
	if l := joined(b.cmd("SELECT INBOX")); !strings.Contains(l, "* 0 RECENT") {
		t.Fatalf("SELECT after another session claimed: %q", l)
	}
	if l := joined(c.cmd("STATUS INBOX (RECENT)")); !strings.Contains(l, "(RECENT 0)") {
		t.Fatalf("STATUS after the claims: %q", l)
	}
	// \Recent cannot be stored by a client.
	a.cmd(`STORE 1 -FLAGS (\Recent)`)
	if l := joined(a.cmd("FETCH 1 FLAGS")); !strings.Contains(l, `\Recent`) {
		t.Fatalf("\\Recent removed by STORE: %q", l)
	}
}
