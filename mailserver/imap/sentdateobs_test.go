package imap

import (
	"strings"
	"testing"
)

// TestSentDateObsoleteSpacing: a Date written in RFC 5322's obsolete
// syntax, with white space and a comment around the time's colons, is
// read for SENTON and SORT (DATE) instead of being taken as no date (which
// sent it to INTERNALDATE). Derived from a comparison with Dovecot, which
// reads it the same way.
func TestSentDateObsoleteSpacing(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	appendMsg(t, c, "INBOX", []byte("From: a@example.org\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\n\r\nx\r\n"), nil)
	appendMsg(t, c, "INBOX", []byte("From: a@example.org\r\nDate: Fri, 21 Nov 1997 09(comment):   55  :  06 -0600\r\n\r\nx\r\n"), nil)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	if out := strings.Join(r.cmd("SEARCH SENTON 21-Nov-1997"), ""); !strings.Contains(out, "* SEARCH 2\r\n") {
		t.Errorf("SEARCH SENTON 21-Nov-1997: %q, want message 2", out)
	}
	if out := strings.Join(r.cmd("SORT (DATE) UTF-8 ALL"), ""); !strings.Contains(out, "* SORT 2 1\r\n") {
		t.Errorf("SORT (DATE): %q, want 2 1", out)
	}
}
