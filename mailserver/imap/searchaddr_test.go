package imap

import (
	"strings"
	"testing"
)

// TestSearchAddressWithComments: SEARCH FROM/TO match the parsed
// addresses too, so a comment or quoting inside an address does not hide
// it (joe(at work)@example.org is joe@example.org, RFC 5322 section 3.4).
func TestSearchAddressWithComments(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	appendMsg(t, c, "INBOX", []byte("From: joe(at work)@example.org\r\nTo: \"Ann\" <ann@(home)example.net>\r\nSubject: a\r\n\r\nx\r\n"), nil)
	appendMsg(t, c, "INBOX", []byte("From: other@example.org\r\nSubject: b\r\n\r\ny\r\n"), nil)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	for _, q := range []string{`FROM "joe@example.org"`, `TO "ann@example.net"`, `TO "Ann <ann@example.net>"`} {
		l := r.cmd("SEARCH " + q)
		if got := strings.Join(l[:len(l)-1], ""); got != "* SEARCH 1\r\n" {
			t.Errorf("SEARCH %s = %q, want message 1", q, got)
		}
	}
}
