package imap

import (
	"fmt"
	"strings"
	"testing"
)

// threadMsg builds a message for SORT/THREAD tests.
func threadMsg(day int, from, subject, id, inReplyTo, pad string) []byte {
	h := fmt.Sprintf("From: %s\r\nTo: alice@example.com\r\nSubject: %s\r\nDate: %02d Jan 2024 10:00:00 +0000\r\nMessage-ID: <%s>\r\n", from, subject, day, id)
	if inReplyTo != "" {
		h += fmt.Sprintf("In-Reply-To: <%s>\r\nReferences: <%s>\r\n", inReplyTo, inReplyTo)
	}
	return []byte(h + "\r\nbody" + pad + "\r\n")
}

// TestSortThread follows RFC 5256: SORT by base subject, reverse date,
// size (UID SORT gives UIDs), with a search program and its charset;
// THREAD=REFERENCES with replies nested, siblings in parentheses and a
// dummy parent (a message referred to but absent) not shown;
// THREAD=ORDEREDSUBJECT grouping by base subject.
func TestSortThread(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	msgs := [][]byte{
		threadMsg(1, "Carol <c@example.org>", "x", "a@x", "", strings.Repeat("1", 200)),
		threadMsg(2, "Bob <b@example.org>", "Re: x", "b@x", "a@x", ""),
		threadMsg(3, "Ann <a@example.org>", "Re: x", "c@x", "b@x", strings.Repeat("3", 100)),
		threadMsg(4, "Dave <d@example.org>", "y", "d@x", "", strings.Repeat("4", 300)),
		threadMsg(5, "Eve <e@example.org>", "RE: x", "e@x", "a@x", strings.Repeat("5", 150)),
		threadMsg(6, "Fay <f@example.org>", "z", "f@x", "gone@x", ""),
		threadMsg(7, "Gus <g@example.org>", "Re: z", "g@x", "gone@x", ""),
	}
	for _, m := range msgs {
		appendMsg(t, c, "INBOX", m, nil)
	}
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	caps := strings.Join(r.cmd("CAPABILITY"), "")
	for _, cp := range []string{" SORT", " THREAD=REFERENCES", " THREAD=ORDEREDSUBJECT"} {
		if !strings.Contains(caps, cp) {
			t.Fatalf("capabilities lack %s: %q", cp, caps)
		}
	}
	check := func(cmd, want string) {
		t.Helper()
		l := r.cmd(cmd)
		lastOK(t, cmd, l)
		if !has(l, want+"\r\n") {
			t.Fatalf("%s: %q, want %q", cmd, l, want)
		}
	}
	check("SORT (SUBJECT) UTF-8 ALL", "* SORT 1 2 3 5 4 6 7")
	check("SORT (REVERSE DATE) UTF-8 ALL", "* SORT 7 6 5 4 3 2 1")
	check("SORT (FROM) US-ASCII NOT FROM dave", "* SORT 3 2 1 5 6 7")
	check("UID SORT (REVERSE SIZE) UTF-8 1:5", "* SORT 4 1 5 3 2")
	check("THREAD REFERENCES UTF-8 ALL", "* THREAD (1 (2 3)(5))(4)((6)(7))")
	check("THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (1 (2)(3)(5))(4)(6 7)")
	check("UID THREAD REFERENCES UTF-8 SUBJECT y", "* THREAD (4)")
	if l := r.cmd("SORT (SUBJECT) ALL"); !strings.Contains(l[len(l)-1], "BAD") {
		t.Fatalf("SORT without charset: %q", l)
	}
	if l := r.cmd("THREAD FOO UTF-8 ALL"); !strings.Contains(l[len(l)-1], "BAD") {
		t.Fatalf("unknown algorithm: %q", l)
	}
}
