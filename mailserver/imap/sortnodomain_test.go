package imap

import (
	"strings"
	"testing"
)

// TestSortAddressWithoutDomain: SORT (FROM) and (DISPLAYFROM) key a From
// that is a bare local part ("From: mallory") by that word, the mailbox
// ENVELOPE lists for it (RFC 5256 section 3: the addr-mailbox of the
// first From address), instead of sorting it first as if it had no
// address; an address that parses is still found after an item that does
// not. Derived from a comparison with Dovecot, which answers the same.
func TestSortAddressWithoutDomain(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	for _, from := range []string{"Zed <zed@example.org>", "mallory", "Bob <bob@example.org>", "<>, Nat <nat@example.org>"} {
		appendMsg(t, c, "INBOX", []byte("From: "+from+"\r\nSubject: s\r\n\r\nx\r\n"), nil)
	}
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	for cmd, want := range map[string]string{
		"SORT (FROM) UTF-8 ALL":        "* SORT 3 2 4 1\r\n",
		"SORT (DISPLAYFROM) UTF-8 ALL": "* SORT 3 2 4 1\r\n",
	} {
		out := strings.Join(r.cmd(cmd), "")
		if !strings.Contains(out, want) {
			t.Errorf("%s: %q, want %q", cmd, out, want)
		}
	}
}
