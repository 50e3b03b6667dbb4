package imap

import (
	"strings"
	"testing"
)

// TestSearchCharset: SEARCH, SORT and THREAD read their strings in the
// charset they name, converted to UTF-8 (ISO-8859-1 here), and a charset
// the server does not know is a tagged NO [BADCHARSET], not a BAD (RFC
// 9051 section 6.4.4); the session goes on after it, a literal in the
// refused command included.
func TestSearchCharset(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	appendMsg(t, c, "INBOX", []byte("From: a@example.org\r\nSubject: =?UTF-8?Q?caf=C3=A9_cr=C3=A8me?=\r\n\r\nx\r\n"), nil)
	appendMsg(t, c, "INBOX", []byte("From: a@example.org\r\nSubject: tea\r\n\r\nx\r\n"), nil)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	out := strings.Join(r.cmd("SEARCH CHARSET ISO-8859-1 SUBJECT \"caf\xe9\""), "")
	if !strings.Contains(out, "* SEARCH 1\r\n") || !strings.Contains(out, "OK") {
		t.Errorf("SEARCH CHARSET ISO-8859-1: %q, want message 1", out)
	}
	out = strings.Join(r.cmd("SORT (SUBJECT) ISO-8859-1 SUBJECT \"cr\xe8me\""), "")
	if !strings.Contains(out, "* SORT 1\r\n") {
		t.Errorf("SORT in ISO-8859-1: %q, want message 1", out)
	}
	for _, cmd := range []string{
		"SEARCH CHARSET X-NO-SUCH-CHARSET SUBJECT tea",
		"SORT (SUBJECT) X-NO-SUCH-CHARSET ALL",
		"THREAD REFERENCES X-NO-SUCH-CHARSET ALL",
		"SEARCH CHARSET X-NO-SUCH-CHARSET SUBJECT {3+}\r\ntea",
	} {
		l := r.cmd("%s", cmd)
		last := l[len(l)-1]
		if !strings.Contains(last, " NO [BADCHARSET") {
			t.Errorf("%q: %q, want NO [BADCHARSET]", cmd, l)
		}
	}
	out = strings.Join(r.cmd("SEARCH CHARSET US-ASCII SUBJECT tea"), "")
	if !strings.Contains(out, "* SEARCH 2\r\n") {
		t.Errorf("SEARCH after the refused ones: %q", out)
	}
}
