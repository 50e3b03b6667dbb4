package imap

import (
	"strings"
	"testing"
)

// TestReselectSeesOtherSessionsChanges: a SELECT of the folder already
// selected builds on the session's view and the change index; what
// another session changed meanwhile (flags, an expunge, a new message)
// is in it exactly as a fresh session lists the folder.
func TestReselectSeesOtherSessionsChanges(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	for i := range 4 {
		appendMsg(t, c, "INBOX", testMessage(i, "subject"), nil)
	}
	a := env.raw()
	a.cmd("LOGIN alice@example.com %s", testPassword)
	a.cmd("SELECT INBOX")
	a.cmd("STORE 1 +FLAGS (\\Seen)")

	b := env.raw()
	b.cmd("LOGIN alice@example.com %s", testPassword)
	b.cmd("SELECT INBOX")
	b.cmd("STORE 2:3 +FLAGS (\\Flagged $Work)")
	b.cmd("STORE 1 +FLAGS (\\Deleted)")
	b.cmd("EXPUNGE")
	b.cmd("LOGOUT")
	appendMsg(t, c, "INBOX", testMessage(7, "late"), nil)

	for _, again := range []string{"SELECT INBOX", "EXAMINE INBOX", "SELECT INBOX"} {
		sel := a.cmd("%s", again)
		if !containsLine(sel, "* 4 EXISTS") || !containsLine(sel, "$Work") {
			t.Fatalf("%s: %q", again, sel)
		}
		got := fetchFlags(a.cmd("FETCH 1:* (UID FLAGS)"))

		f := env.raw()
		f.cmd("LOGIN alice@example.com %s", testPassword)
		f.cmd("EXAMINE INBOX")
		want := fetchFlags(f.cmd("FETCH 1:* (UID FLAGS)"))
		f.cmd("LOGOUT")
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("after %s:\n got %q\nwant %q", again, got, want)
		}
	}
	a.cmd("CLOSE")
	sel := a.cmd("SELECT INBOX")
	if !containsLine(sel, "* 4 EXISTS") {
		t.Fatalf("SELECT after CLOSE: %q", sel)
	}
}

func containsLine(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// fetchFlags keeps the untagged FETCH lines, without \Recent (session
// state) and the line ends.
func fetchFlags(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "* ") && strings.Contains(l, " FETCH ") {
			l = strings.ReplaceAll(strings.TrimSpace(l), ` \Recent`, "")
			out = append(out, strings.ReplaceAll(l, `(\Recent)`, "()"))
		}
	}
	return out
}
