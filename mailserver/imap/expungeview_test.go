package imap

import (
	"strings"
	"testing"
)

// EXPUNGE removes the \Deleted messages of the session's view, not a
// message another session appended (or flagged) that this session has not
// yet been told of: the client never saw it, nor its \Deleted. Dovecot
// does the same. Before, such a message was removed without the client
// ever hearing of it.
func TestExpungeLeavesUnannouncedMessages(t *testing.T) {
	env, a := condEnv(t, 1)
	lastOK(t, "SELECT", a.cmd("SELECT INBOX"))
	lastOK(t, "STORE", a.cmd(`STORE 1 +FLAGS.SILENT (\Deleted)`))

	b := env.login("alice@example.com", nil)
	appendMsg(t, b, "INBOX", testMessage(2, "unseen"), nil)
	r := env.raw()
	lastOK(t, "login", r.cmd("LOGIN alice@example.com %s", testPassword))
	lastOK(t, "SELECT", r.cmd("SELECT INBOX"))
	lastOK(t, "STORE", r.cmd(`STORE 2 +FLAGS.SILENT (\Deleted)`))

	ex := a.cmd("EXPUNGE")
	lastOK(t, "EXPUNGE", ex)
	if !has(ex, "* 1 EXPUNGE") || !has(ex, "* 1 EXISTS") {
		t.Fatalf("EXPUNGE: %q, want message 1 expunged and the new one announced", ex)
	}
	f := a.cmd("FETCH 1 (FLAGS)")
	if !has(f, `\Deleted`) {
		t.Fatalf("the message the session had not seen: %q", f)
	}
	// Now that it is announced, the next EXPUNGE removes it.
	if ex := a.cmd("EXPUNGE"); !has(ex, "* 1 EXPUNGE") {
		t.Fatalf("second EXPUNGE: %q", ex)
	}
}

// UID COPY and UID MOVE of UIDs another session expunged answer OK with
// nothing copied (a UID that no longer exists is ignored, RFC 9051 section
// 6.4.9, as Dovecot answers); COPY by sequence number still says NO
// [EXPUNGEISSUED], the message number the client used being one it
// believes in.
func TestUIDCopyOfExpungedIsOK(t *testing.T) {
	env, a := condEnv(t, 2)
	lastOK(t, "SELECT", a.cmd("SELECT INBOX"))
	lastOK(t, "CREATE", a.cmd("CREATE Other"))
	b := env.raw()
	lastOK(t, "login", b.cmd("LOGIN alice@example.com %s", testPassword))
	lastOK(t, "SELECT", b.cmd("SELECT INBOX"))
	lastOK(t, "STORE", b.cmd(`STORE 1:2 +FLAGS.SILENT (\Deleted)`))
	lastOK(t, "EXPUNGE", b.cmd("EXPUNGE"))

	// Each command reports the expunges afterwards; the session keeps no
	// view of them, so the sequence-number case goes first.
	l := a.cmd("COPY 1 Other")
	if last := l[len(l)-1]; !strings.Contains(last, "NO [EXPUNGEISSUED]") {
		t.Fatalf("COPY of an expunged message: %q", l)
	}
	b2 := env.raw()
	lastOK(t, "login", b2.cmd("LOGIN alice@example.com %s", testPassword))
	c := b2
	for i := 0; i < 2; i++ {
		appendMsg(t, env.login("alice@example.com", nil), "INBOX", testMessage(10+i, "again"), nil)
	}
	lastOK(t, "SELECT", c.cmd("SELECT INBOX"))
	lastOK(t, "SELECT", a.cmd("SELECT INBOX"))
	lastOK(t, "STORE", c.cmd(`STORE 1:2 +FLAGS.SILENT (\Deleted)`))
	lastOK(t, "EXPUNGE", c.cmd("EXPUNGE"))
	for _, cmd := range []string{"UID COPY 3 Other", "UID MOVE 4 Other"} {
		l := a.cmd(cmd)
		last := l[len(l)-1]
		if !strings.Contains(last, " OK ") || strings.Contains(last, "COPYUID") {
			t.Fatalf("%s of an expunged message: %q, want OK without COPYUID", cmd, l)
		}
	}
}

// A COPY refused with NO [EXPUNGEISSUED] reports the expunges with it, so
// the client's next sequence numbers are right; before, they came only
// with the next command.
func TestExpungeIssuedReportsExpunges(t *testing.T) {
	_, a := expungedByOther(t)
	l := a.cmd("COPY 1 Dest")
	if last := l[len(l)-1]; !strings.Contains(last, "NO [EXPUNGEISSUED]") || !has(l, "* 1 EXPUNGE") {
		t.Fatalf("COPY of an expunged message: %q, want * 1 EXPUNGE then NO [EXPUNGEISSUED]", l)
	}
	if n := a.cmd("NOOP"); has(n, "EXPUNGE") {
		t.Fatalf("the expunge was reported twice: %q", n)
	}
}
