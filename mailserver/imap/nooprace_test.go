package imap

import (
	"fmt"
	"testing"
)

// A NOOP sent right after another session's STORE, EXPUNGE or APPEND
// completed reports it, every time, even when the session's watch
// goroutine has not yet taken the engine's change notice. Before, about
// one NOOP in fifty answered nothing and the flags showed up one poll
// later.
func TestNoopSeesOtherSessionAtOnce(t *testing.T) {
	env, a := condEnv(t, 2)
	lastOK(t, "SELECT", a.cmd("SELECT INBOX"))
	b := env.raw()
	lastOK(t, "login", b.cmd("LOGIN alice@example.com %s", testPassword))
	lastOK(t, "SELECT", b.cmd("SELECT INBOX"))
	for i := 0; i < 200; i++ {
		sign := "+"
		if i%2 == 1 {
			sign = "-"
		}
		lastOK(t, "STORE", b.cmd(`STORE 1 %sFLAGS.SILENT (\Flagged)`, sign))
		n := a.cmd("NOOP")
		if !has(n, "* 1 FETCH (") || has(n, `\Flagged`) != (sign == "+") {
			t.Fatalf("round %d: NOOP right after the other session's STORE: %q", i, n)
		}
	}
	for i := 0; i < 50; i++ {
		c := env.login("alice@example.com", nil)
		appendMsg(t, c, "INBOX", testMessage(100+i, "race"), nil)
		c.Close()
		if n := a.cmd("NOOP"); !has(n, fmt.Sprintf("* %d EXISTS", 3+i)) {
			t.Fatalf("append %d: NOOP right after it: %q", i, n)
		}
	}
}
