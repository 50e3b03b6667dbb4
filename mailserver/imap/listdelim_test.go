package imap

import (
	"strings"
	"testing"
)

// TestListEmptyPattern: LIST "" "" returns the hierarchy delimiter and
// the root name (RFC 9051 section 6.3.9); clients use it to learn the
// separator. It used to return only the tagged OK.
func TestListEmptyPattern(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	l := r.cmd(`LIST "" ""`)
	if len(l) != 2 || l[0] != "* LIST (\\Noselect) \"/\" \"\"\r\n" {
		t.Fatalf(`LIST "" "" = %q`, l)
	}
	if !strings.Contains(l[1], " OK") {
		t.Fatalf("LIST: %q", l)
	}
}
