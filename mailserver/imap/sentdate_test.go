package imap

import (
	"strings"
	"testing"
)

// TestSentDateInSenderZone: SENTON/SENTSINCE/SENTBEFORE compare the date
// of the Date: header as the sender wrote it, "disregarding time and
// timezone" (RFC 9051 section 6.4.4), not the date it falls on in UTC.
func TestSentDateInSenderZone(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	// 1: late on 1 Jan in New York (2 Jan in UTC); 2: early on 2 Jan in
	// Helsinki (1 Jan in UTC).
	appendMsg(t, c, "INBOX", []byte("Date: Mon, 1 Jan 2024 23:30:00 -0500\r\nSubject: a\r\n\r\nx\r\n"), nil)
	appendMsg(t, c, "INBOX", []byte("Date: Tue, 2 Jan 2024 01:00:00 +0200\r\nSubject: b\r\n\r\ny\r\n"), nil)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	for _, c := range []struct{ query, want string }{
		{"SENTON 1-Jan-2024", "* SEARCH 1\r\n"},
		{"SENTON 2-Jan-2024", "* SEARCH 2\r\n"},
		{"SENTSINCE 2-Jan-2024", "* SEARCH 2\r\n"},
		{"SENTBEFORE 2-Jan-2024", "* SEARCH 1\r\n"},
	} {
		l := r.cmd("SEARCH " + c.query)
		if got := strings.Join(l[:len(l)-1], ""); got != c.want {
			t.Errorf("SEARCH %s = %q, want %q", c.query, got, c.want)
		}
	}
}
