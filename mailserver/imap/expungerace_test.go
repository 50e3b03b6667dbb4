package imap

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// expungedByOther gives session A a view of three INBOX messages of which
// session B has since expunged the first (A has not been told).
func expungedByOther(t *testing.T) (*testEnv, *rawConn) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	b := env.login("alice@example.com", nil)
	env.eng.CreateFolder(t.Context(), env.accs["alice@example.com"].ID, "Dest", "")
	for i := 1; i <= 3; i++ {
		appendMsg(t, b, "INBOX", testMessage(i, "race"), nil)
	}
	a := env.raw()
	a.cmd("LOGIN alice@example.com %s", testPassword)
	if l := a.cmd("SELECT INBOX"); !strings.Contains(strings.Join(l, ""), "* 3 EXISTS") {
		t.Fatalf("SELECT: %q", l)
	}
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if err := b.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	return env, a
}

func lastOK(t *testing.T, what string, lines []string) {
	t.Helper()
	if last := lines[len(lines)-1]; !strings.Contains(last, " OK") {
		t.Fatalf("%s: %q", what, lines)
	}
}

// flagsNow reads the flags of INBOX's messages from a fresh session.
func flagsNow(t *testing.T, env *testEnv) map[imap.UID]string {
	c := env.login("alice@example.com", nil)
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[imap.UID]string)
	for _, m := range msgs {
		out[m.UID] = flagStrings(m.Flags)
	}
	return out
}

// TestStoreAfterOtherSessionExpunge: session B expunges message 1, then
// session A (not yet told) sends STORE 1:3 +FLAGS (\Seen). The command
// used to fail whole with NO [NONEXISTENT] and change nothing; messages 2
// and 3 must be changed and the command succeed (RFC 9051 section 5.5).
func TestStoreAfterOtherSessionExpunge(t *testing.T) {
	env, a := expungedByOther(t)
	l := a.cmd(`STORE 1:3 +FLAGS (\Flagged)`)
	lastOK(t, "STORE 1:3", l)
	if strings.Contains(strings.Join(l, ""), "NONEXISTENT") {
		t.Fatalf("STORE answered NONEXISTENT: %q", l)
	}
	got := flagsNow(t, env)
	if len(got) != 2 || !strings.Contains(got[2], `\Flagged`) || !strings.Contains(got[3], `\Flagged`) {
		t.Fatalf("flags after STORE: %v, want \\Flagged on UIDs 2 and 3", got)
	}
	// A non-PEEK FETCH sets \Seen on what is left.
	lastOK(t, "FETCH 1:3 BODY[TEXT]", a.cmd(`FETCH 1:3 (BODY[TEXT])`))
	got = flagsNow(t, env)
	if !strings.Contains(got[2], `\Seen`) || !strings.Contains(got[3], `\Seen`) {
		t.Fatalf("flags after FETCH BODY[TEXT]: %v, want \\Seen on UIDs 2 and 3", got)
	}
}

// TestCopyMoveAfterOtherSessionExpunge: COPY and MOVE act on the
// messages that still exist; COPYUID names only those. When nothing is
// left, NO [EXPUNGEISSUED], never NONEXISTENT.
func TestCopyMoveAfterOtherSessionExpunge(t *testing.T) {
	env, a := expungedByOther(t)
	l := a.cmd(`COPY 1:3 Dest`)
	lastOK(t, "COPY 1:3", l)
	if !strings.Contains(l[len(l)-1], "COPYUID") || !strings.Contains(l[len(l)-1], " 2:3 ") {
		t.Errorf("COPY response %q, want COPYUID for source UIDs 2:3", l[len(l)-1])
	}
	st, err := env.login("alice@example.com", nil).Status("Dest", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 2 {
		t.Fatalf("Dest holds %d messages after COPY 1:3, want 2", *st.NumMessages)
	}

	// The expunge reached A after its COPY; race it again for the rest.
	_, a = expungedByOther(t)
	l = a.cmd(`COPY 1 Dest`)
	if last := l[len(l)-1]; !strings.Contains(last, "NO [EXPUNGEISSUED]") {
		t.Errorf("COPY of an expunged message: %q, want NO [EXPUNGEISSUED]", last)
	}
	env, a = expungedByOther(t)
	l = a.cmd(`MOVE 1:3 Dest`)
	lastOK(t, "MOVE 1:3", l)
	st, err = env.login("alice@example.com", nil).Status("Dest", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 2 {
		t.Fatalf("Dest holds %d messages after MOVE 1:3, want 2", *st.NumMessages)
	}
	if got := flagsNow(t, env); len(got) != 0 {
		t.Fatalf("INBOX still holds %v after MOVE", got)
	}
}
