package imap

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/engine"
)

// movedByOther gives session B a view of INBOX's UIDs 1, 2 and 3 in
// which session A has since moved message 1 into INBOX itself (RFC 6851
// allows it; the message gets UID 4, as in Dovecot). B has not been told:
// for B, UID 1 is a message expunged by another session (RFC 9051 section
// 7.5.1 holds its EXPUNGE back until B may hear it), and it must not reach
// the moved message by it. flags are set on message 1 by A after B
// selected and before the move (B does not know them either).
func movedByOther(t *testing.T, flags string) (*testEnv, *rawConn) {
	t.Helper()
	env := newEnv(t, nil)
	acct := env.account("alice@example.com", 0)
	if _, err := env.eng.CreateFolder(t.Context(), acct.ID, "Dest", ""); err != nil {
		t.Fatal(err)
	}
	c := env.login("alice@example.com", nil)
	for i := 1; i <= 3; i++ {
		appendMsg(t, c, "INBOX", testMessage(i, "moved"), nil)
	}
	b := env.raw()
	lastOK(t, "B LOGIN", b.cmd("LOGIN alice@example.com %s", testPassword))
	lastOK(t, "B SELECT", b.cmd("SELECT INBOX (CONDSTORE)"))
	a := env.raw()
	lastOK(t, "A LOGIN", a.cmd("LOGIN alice@example.com %s", testPassword))
	lastOK(t, "A SELECT", a.cmd("SELECT INBOX"))
	if flags != "" {
		lastOK(t, "A STORE", a.cmd("STORE 1 +FLAGS.SILENT (%s)", flags))
	}
	if l := a.cmd("MOVE 1 INBOX"); !has(l, "[COPYUID ") || !has(l, " 1 4]") {
		t.Fatalf("A MOVE 1 INBOX: %q", l)
	}
	return env, b
}

// inboxNow lists INBOX as the engine has it, by UID.
func inboxNow(t *testing.T, env *testEnv, folder string) map[uint32]engine.Item {
	t.Helper()
	acct := env.accs["alice@example.com"].ID
	f, err := env.eng.FolderByPath(t.Context(), acct, folder)
	if err != nil {
		t.Fatal(err)
	}
	items, err := env.eng.ListItems(t.Context(), acct, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[uint32]engine.Item, len(items))
	for _, it := range items {
		out[it.UID] = it
	}
	return out
}

func itemHas(it engine.Item, flag string) bool {
	for _, f := range it.Flags {
		if strings.EqualFold(f, flag) {
			return true
		}
	}
	return false
}

// TestStoreByOldUIDAfterMoveInFolder: STORE and UID STORE on the old
// number of a message another session moved within the folder leave the
// moved message alone and change the others (RFC 9051 section 5.5, as
// for an expunged message); no FETCH is sent for the old number.
func TestStoreByOldUIDAfterMoveInFolder(t *testing.T) {
	for _, cmd := range []string{`STORE 1:3 +FLAGS (\Answered)`, `UID STORE 1:3 +FLAGS (\Answered)`} {
		t.Run(cmd, func(t *testing.T) {
			env, b := movedByOther(t, "")
			l := b.cmd("%s", cmd)
			lastOK(t, cmd, l)
			if has(l, "* 1 FETCH") {
				t.Fatalf("%s answered for the moved message's old number: %q", cmd, l)
			}
			now := inboxNow(t, env, "INBOX")
			if itemHas(now[4], `\Answered`) {
				t.Fatalf("%s reached the moved message (UID 4): %v", cmd, now[4].Flags)
			}
			if !itemHas(now[2], `\Answered`) || !itemHas(now[3], `\Answered`) {
				t.Fatalf("%s did not change UIDs 2 and 3: %+v", cmd, now)
			}
		})
	}
}

// TestUnchangedSinceByOldUIDAfterMoveInFolder: under UNCHANGEDSINCE the
// old number fails the test, as an expunged message does (RFC 7162
// section 3.1.3, example 11), and the moved message is not changed.
func TestUnchangedSinceByOldUIDAfterMoveInFolder(t *testing.T) {
	for _, uid := range []bool{false, true} {
		env, b := movedByOther(t, "")
		prefix := ""
		if uid {
			prefix = "UID "
		}
		cmd := prefix + `STORE 1:3 (UNCHANGEDSINCE 1000000) +FLAGS (\Answered)`
		l := b.cmd("%s", cmd)
		if last := l[len(l)-1]; !strings.Contains(last, "OK [MODIFIED 1]") {
			t.Fatalf("%s: %q, want OK [MODIFIED 1]", cmd, l)
		}
		now := inboxNow(t, env, "INBOX")
		if itemHas(now[4], `\Answered`) || !itemHas(now[2], `\Answered`) || !itemHas(now[3], `\Answered`) {
			t.Fatalf("%s: INBOX now %+v, want UIDs 2 and 3 changed, 4 not", cmd, now)
		}
	}
}

// TestCopyMoveByOldUIDAfterMoveInFolder: COPY and MOVE of only the old
// number answer NO [EXPUNGEISSUED] (UID forms: OK, nothing done) and copy
// or move nothing; with other messages they act on those alone and
// COPYUID names only them.
func TestCopyMoveByOldUIDAfterMoveInFolder(t *testing.T) {
	cases := []struct {
		cmd, want string
		dest      int    // messages in Dest after
		srcUIDs   string // COPYUID source set, "" for none
	}{
		{"COPY 1 Dest", "NO [EXPUNGEISSUED]", 0, ""},
		{"UID COPY 1 Dest", "OK", 0, ""},
		{"COPY 1:2 Dest", "OK", 1, " 2 "},
		{"MOVE 1 Dest", "NO [EXPUNGEISSUED]", 0, ""},
		{"UID MOVE 1 Dest", "OK", 0, ""},
		{"MOVE 1 INBOX", "NO [EXPUNGEISSUED]", 0, ""},
		{"UID MOVE 1:2 Dest", "OK", 1, " 2 "},
	}
	for _, c := range cases {
		t.Run(c.cmd, func(t *testing.T) {
			env, b := movedByOther(t, "")
			l := b.cmd("%s", c.cmd)
			if last := l[len(l)-1]; !strings.Contains(last, " "+c.want) {
				t.Fatalf("%s: %q, want %s", c.cmd, l, c.want)
			}
			copyUID := regexp.MustCompile(`\[COPYUID \d+ ([^ ]+) `).FindStringSubmatch(strings.Join(l, ""))
			switch {
			case c.srcUIDs == "" && copyUID != nil:
				t.Fatalf("%s: COPYUID %q for nothing done", c.cmd, copyUID[0])
			case c.srcUIDs != "" && (copyUID == nil || " "+copyUID[1]+" " != c.srcUIDs):
				t.Fatalf("%s: %q, want COPYUID source UIDs%s", c.cmd, l, c.srcUIDs)
			}
			if n := len(inboxNow(t, env, "Dest")); n != c.dest {
				t.Fatalf("%s: Dest holds %d messages, want %d", c.cmd, n, c.dest)
			}
			now := inboxNow(t, env, "INBOX")
			if _, ok := now[4]; !ok || len(now) < 2 {
				t.Fatalf("%s: INBOX now %+v, want the moved message still at UID 4", c.cmd, now)
			}
			if _, ok := now[5]; ok {
				t.Fatalf("%s moved the moved message again: INBOX %+v", c.cmd, now)
			}
		})
	}
}

// TestFetchByOldUIDAfterMoveInFolder: FETCH of the old number sends no
// message contents (the message is expunged for this session) and a
// non-PEEK body fetch does not set \Seen on the moved message.
func TestFetchByOldUIDAfterMoveInFolder(t *testing.T) {
	for _, cmd := range []string{"FETCH 1 (BODY.PEEK[])", "UID FETCH 1 (BODY.PEEK[HEADER])", "FETCH 1 (ENVELOPE)", "FETCH 1:2 (BODY[TEXT])", "UID FETCH 1:2 (BINARY[])"} {
		t.Run(cmd, func(t *testing.T) {
			env, b := movedByOther(t, "")
			l := b.cmd("%s", cmd)
			lastOK(t, cmd, l)
			if has(l, "* 1 FETCH") {
				t.Fatalf("%s answered with the moved message: %q", cmd, l)
			}
			now := inboxNow(t, env, "INBOX")
			if itemHas(now[4], `\Seen`) {
				t.Fatalf("%s set \\Seen on the moved message", cmd)
			}
			if strings.Contains(cmd, "1:2") && !has(l, "* 2 FETCH") {
				t.Fatalf("%s: %q, want message 2", cmd, l)
			}
		})
	}
}

// TestSearchByOldUIDAfterMoveInFolder: SEARCH, UID SEARCH and SORT do not
// report the old number for what the moved message now matches.
func TestSearchByOldUIDAfterMoveInFolder(t *testing.T) {
	for _, cmd := range []string{`SEARCH FLAGGED`, `UID SEARCH FLAGGED`, `SORT (ARRIVAL) UTF-8 FLAGGED`, `UID SORT (ARRIVAL) UTF-8 FLAGGED`} {
		t.Run(cmd, func(t *testing.T) {
			_, b := movedByOther(t, `\Flagged`)
			l := b.cmd("%s", cmd)
			lastOK(t, cmd, l)
			verb := strings.Fields(strings.TrimPrefix(cmd, "UID "))[0]
			for _, line := range l {
				if !strings.HasPrefix(line, "* "+verb) {
					continue
				}
				for _, f := range strings.Fields(strings.TrimPrefix(line, "* "+verb)) {
					if f == "1" {
						t.Fatalf("%s reported the moved message's old number: %q", cmd, l)
					}
				}
			}
		})
	}
}

// TestExpungeByOldUIDAfterMoveInFolder: UID EXPUNGE and EXPUNGE of the old
// number do not remove the moved message (\Deleted was set before the
// move; this session has not seen the message under its new UID).
func TestExpungeByOldUIDAfterMoveInFolder(t *testing.T) {
	for _, cmd := range []string{"UID EXPUNGE 1", "EXPUNGE"} {
		t.Run(cmd, func(t *testing.T) {
			env, b := movedByOther(t, `\Deleted`)
			lastOK(t, cmd, b.cmd("%s", cmd))
			if _, ok := inboxNow(t, env, "INBOX")[4]; !ok {
				t.Fatalf("%s removed the moved message (UID 4)", cmd)
			}
		})
	}
}

// TestMoveInFolderSeenByOtherSession: once told, the other session sees
// the move as an expunge of the old UID and a new message under the new
// one, and acts on it by that.
func TestMoveInFolderSeenByOtherSession(t *testing.T) {
	env, b := movedByOther(t, `\Flagged`)
	l := b.cmd("NOOP")
	if !has(l, "* 1 EXPUNGE") || !has(l, "* 3 EXISTS") {
		t.Fatalf("NOOP after the move: %q, want * 1 EXPUNGE and * 3 EXISTS", l)
	}
	l = b.cmd("FETCH 3 (UID FLAGS)")
	if !has(l, `* 3 FETCH (UID 4 FLAGS (\Flagged`) {
		t.Fatalf("FETCH 3: %q, want the moved message as UID 4 with its flags", l)
	}
	lastOK(t, "STORE 3", b.cmd(`STORE 3 +FLAGS (\Answered)`))
	if it := inboxNow(t, env, "INBOX")[4]; !itemHas(it, `\Answered`) {
		t.Fatalf("STORE 3 did not reach UID 4: %v", it.Flags)
	}
}
