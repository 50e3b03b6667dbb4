package imap

import (
	"strings"
	"testing"
)

// TestSearchRes drives SEARCHRES on the wire: SAVE, then "$" in FETCH,
// UID FETCH and SEARCH.
func TestSearchRes(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	for i := 1; i <= 3; i++ {
		appendMsg(t, c, "INBOX", testMessage(i, "x"), nil)
	}
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	r.cmd("STORE 2 +FLAGS.SILENT (\\Seen)")
	out := strings.Join(r.cmd("UID SEARCH RETURN (SAVE MIN MAX COUNT) UNSEEN"), "")
	if !strings.Contains(out, "UID MIN 1 MAX 3 COUNT 2") {
		t.Fatalf("ESEARCH: %s", out)
	}
	out = strings.Join(r.cmd("FETCH $ (UID)"), "")
	if !strings.Contains(out, "* 1 FETCH (UID 1)") || !strings.Contains(out, "* 3 FETCH (UID 3)") || strings.Contains(out, "UID 2") {
		t.Errorf("FETCH $: %s", out)
	}
	out = strings.Join(r.cmd("SEARCH RETURN (COUNT) UID $"), "")
	if !strings.Contains(out, "COUNT 2") {
		t.Errorf("SEARCH UID $: %s", out)
	}
}
