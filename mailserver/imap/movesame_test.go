package imap

import (
	"strings"
	"testing"
)

// TestMoveToSameMailbox: MOVE into the selected mailbox is allowed (RFC
// 6851 does not forbid it; Dovecot gives the messages new UIDs). It used
// to be refused with NO [CANNOT].
func TestMoveToSameMailbox(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	appendMsg(t, c, "INBOX", testMessage(1, "one"), nil)
	appendMsg(t, c, "INBOX", testMessage(2, "two"), nil)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	r.cmd(`STORE 1 +FLAGS (\Flagged)`)
	l := strings.Join(r.cmd("MOVE 1 INBOX"), "")
	if !strings.Contains(l, "[COPYUID ") || !strings.Contains(l, " 1 3]") || !strings.Contains(l, "* 1 EXPUNGE") || !strings.Contains(l, " OK") {
		t.Fatalf("MOVE 1 INBOX: %q", l)
	}
	l += strings.Join(r.cmd("NOOP"), "")
	if !strings.Contains(l, "* 2 EXISTS") {
		t.Fatalf("NOOP after MOVE: %q, want the moved message back as 2", l)
	}
	l = strings.Join(r.cmd("FETCH 1:* (UID FLAGS)"), "")
	// Both are \Recent in this session: it selected INBOX first, and it
	// heard first of the moved message, a new one.
	if !strings.Contains(l, `* 1 FETCH (UID 2 FLAGS (\Recent))`) || !strings.Contains(l, `* 2 FETCH (UID 3 FLAGS (\Flagged \Recent))`) {
		t.Fatalf("FETCH after MOVE: %q", l)
	}
}
