package imap

import (
	"strings"
	"testing"
)

// A conditional STORE naming a message another session expunged, which
// this session has not yet been told of, leaves it alone and names it in
// MODIFIED with the messages that failed UNCHANGEDSINCE, as RFC 7162
// section 3.1.3 (example 11) shows and Dovecot answers; the others are
// changed. Before, the expunged message was silently left out and the
// client could not tell its change was not made.
func TestUnchangedSinceExpungedMeanwhile(t *testing.T) {
	env, a := condEnv(t, 3)
	lastOK(t, "SELECT", a.cmd("SELECT INBOX (CONDSTORE)"))
	f := a.cmd("FETCH 1:3 (MODSEQ)")
	lastOK(t, "FETCH", f)
	var ms uint64 // the highest: every message passes UNCHANGEDSINCE
	for _, l := range f[:len(f)-1] {
		ms = max(ms, find(t, modseqRe, []string{l}))
	}

	b := env.raw()
	lastOK(t, "login", b.cmd("LOGIN alice@example.com %s", testPassword))
	lastOK(t, "SELECT", b.cmd("SELECT INBOX"))
	lastOK(t, "STORE", b.cmd(`STORE 3 +FLAGS.SILENT (\Deleted)`))
	lastOK(t, "EXPUNGE", b.cmd("EXPUNGE"))

	st := a.cmd(`STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS (\Seen)`, ms)
	tagged := st[len(st)-1]
	if !strings.Contains(tagged, "OK [MODIFIED 3]") {
		t.Fatalf("STORE UNCHANGEDSINCE over an expunged message: %q", st)
	}
	for _, l := range st {
		if strings.Contains(l, "EXPUNGE") || strings.Contains(l, "VANISHED") {
			t.Fatalf("expunge reported during STORE: %q", st)
		}
	}
	if !has(st, "* 1 FETCH") || !has(st, "* 2 FETCH") || has(st, "* 3 FETCH") {
		t.Fatalf("messages 1 and 2 should be changed and reported, 3 not: %q", st)
	}
	n := a.cmd("NOOP")
	if !has(n, "* 3 EXPUNGE") {
		t.Fatalf("NOOP after the STORE: %q", n)
	}
}
