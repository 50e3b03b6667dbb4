package imap

import (
	"strings"
	"testing"
)

// A message sequence number above the number of messages is a tagged BAD
// (RFC 9051 section 9, seq-number; Dovecot answers the same) for FETCH,
// STORE, COPY and MOVE; before, it was ignored with OK. Ranges with "*"
// (also in an empty mailbox) and UIDs that do not exist stay OK.
func TestSeqNumberAboveCountIsBad(t *testing.T) {
	_, a := condEnv(t, 2)
	lastOK(t, "CREATE", a.cmd("CREATE Other"))
	lastOK(t, "SELECT", a.cmd("SELECT INBOX"))
	for _, cmd := range []string{"FETCH 3 (FLAGS)", "FETCH 1:5 (FLAGS)", `STORE 2,3 +FLAGS (\Seen)`, "COPY 3 Other", "MOVE 1,7 Other"} {
		l := a.cmd("%s", cmd)
		if !strings.Contains(l[len(l)-1], " BAD ") {
			t.Errorf("%s with 2 messages: %q, want BAD", cmd, l)
		}
	}
	for _, cmd := range []string{"FETCH 1:2 (FLAGS)", "FETCH 2:* (FLAGS)", "FETCH 5:* (FLAGS)", "UID FETCH 99 (FLAGS)", `UID STORE 99 +FLAGS (\Seen)`} {
		lastOK(t, cmd, a.cmd("%s", cmd))
	}
	if f := a.cmd("FETCH 1:2 (FLAGS)"); has(f, `\Seen`) {
		t.Fatalf("a refused STORE changed flags: %q", f)
	}
	lastOK(t, "SELECT", a.cmd("SELECT Other"))
	lastOK(t, "FETCH 1:* in an empty mailbox", a.cmd("FETCH 1:* (FLAGS)"))
}
