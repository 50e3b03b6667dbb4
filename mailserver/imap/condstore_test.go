package imap

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	highestRe = regexp.MustCompile(`HIGHESTMODSEQ (\d+)`)
	uvRe      = regexp.MustCompile(`UIDVALIDITY (\d+)`)
	modseqRe  = regexp.MustCompile(`MODSEQ \((\d+)\)`)
)

func find(t *testing.T, re *regexp.Regexp, lines []string) uint64 {
	t.Helper()
	m := re.FindStringSubmatch(strings.Join(lines, ""))
	if m == nil {
		t.Fatalf("no %s in %q", re, lines)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

func has(lines []string, s string) bool { return strings.Contains(strings.Join(lines, ""), s) }

// condEnv is an account with n INBOX messages and a raw session logged in.
func condEnv(t *testing.T, n int) (*testEnv, *rawConn) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	for i := 1; i <= n; i++ {
		appendMsg(t, c, "INBOX", testMessage(i, "cond"), nil)
	}
	r := env.raw()
	lastOK(t, "login", r.cmd("LOGIN alice@example.com %s", testPassword))
	return env, r
}

// TestCondStore follows RFC 7162 section 3.1: HIGHESTMODSEQ on SELECT
// (CONDSTORE), MODSEQ in FETCH, FETCH (CHANGEDSINCE), STORE
// (UNCHANGEDSINCE) with MODIFIED when another session changed a message
// first, UNCHANGEDSINCE 0, SEARCH MODSEQ and STATUS (HIGHESTMODSEQ).
func TestCondStore(t *testing.T) {
	env, a := condEnv(t, 3)
	caps := a.cmd("CAPABILITY")
	if !has(caps, " CONDSTORE") || !has(caps, " QRESYNC") {
		t.Fatalf("capabilities %q", caps)
	}
	sel := a.cmd("SELECT INBOX (CONDSTORE)")
	lastOK(t, "SELECT (CONDSTORE)", sel)
	h0 := find(t, highestRe, sel)
	if h0 == 0 {
		t.Fatalf("HIGHESTMODSEQ 0: %q", sel)
	}
	f := a.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", h0)
	if len(f) != 1 {
		t.Fatalf("nothing changed since %d, got %q", h0, f)
	}
	f = a.cmd("FETCH 1 (MODSEQ)")
	m1 := find(t, modseqRe, f)
	if m1 > h0 {
		t.Fatalf("message MODSEQ %d above HIGHESTMODSEQ %d", m1, h0)
	}

	// Session B flags message 1.
	b := env.raw()
	b.cmd("LOGIN alice@example.com %s", testPassword)
	b.cmd("SELECT INBOX")
	lastOK(t, "B STORE", b.cmd(`STORE 1 +FLAGS.SILENT (\Answered)`))

	// A's conditional store on 1 and 2 with the MODSEQ it knew: 1 fails,
	// 2 is changed and reported with its new MODSEQ.
	st := a.cmd(`STORE 1,2 (UNCHANGEDSINCE %d) +FLAGS (\Flagged)`, h0)
	last := st[len(st)-1]
	if !strings.Contains(last, "OK [MODIFIED 1]") {
		t.Fatalf("STORE UNCHANGEDSINCE: %q, want OK [MODIFIED 1]", st)
	}
	if !regexp.MustCompile(`\* 2 FETCH \(UID 2 FLAGS \(\\Flagged( \\Recent)?\) MODSEQ \(`).MatchString(strings.Join(st, "")) {
		t.Fatalf("STORE UNCHANGEDSINCE: message 2 not reported with MODSEQ: %q", st)
	}
	if has(st, `\Answered \Flagged`) {
		t.Fatalf("message 1 changed despite failing UNCHANGEDSINCE: %q", st)
	}
	// UID STORE reports UIDs; UNCHANGEDSINCE 0 fails for every message.
	st = a.cmd(`UID STORE 3 (UNCHANGEDSINCE 0) +FLAGS.SILENT (\Seen)`)
	if !strings.Contains(st[len(st)-1], "OK [MODIFIED 3]") {
		t.Fatalf("UNCHANGEDSINCE 0: %q", st)
	}

	// CHANGEDSINCE now returns 1 (B's change) and 2 (A's), with MODSEQ.
	f = a.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", h0)
	if !has(f, "UID 1 ") || !has(f, "UID 2 ") || has(f, "UID 3 ") || !has(f, "MODSEQ (") {
		t.Fatalf("CHANGEDSINCE after changes: %q", f)
	}
	s := a.cmd("SEARCH MODSEQ %d", h0+1)
	if !has(s, "* SEARCH 1 2 (MODSEQ ") {
		t.Fatalf("SEARCH MODSEQ: %q", s)
	}
	s = a.cmd("UID SEARCH RETURN (COUNT) MODSEQ %d", h0+1)
	if !has(s, "COUNT 2 MODSEQ ") {
		t.Fatalf("ESEARCH MODSEQ: %q", s)
	}
	st2 := a.cmd("STATUS INBOX (HIGHESTMODSEQ)")
	if h := find(t, highestRe, st2); h <= h0 {
		t.Fatalf("STATUS HIGHESTMODSEQ %d not above %d", h, h0)
	}

	// Unsolicited FETCH after B's change carries MODSEQ once enabled.
	lastOK(t, "B STORE 3", b.cmd(`STORE 3 +FLAGS.SILENT ($Label1)`))
	if got := waitFor(t, a, "NOOP", `UID 3 FLAGS ($Label1`); !regexp.MustCompile(`UID 3 FLAGS \(\$Label1[^)]*\) MODSEQ \(\d+\)`).MatchString(strings.Join(got, "")) {
		t.Fatalf("unsolicited FETCH without MODSEQ: %q", got)
	}
}

// waitFor repeats cmd on r until its output contains want (the watch
// that tells a session of another's change is asynchronous).
func waitFor(t *testing.T, r *rawConn, cmd, want string) []string {
	t.Helper()
	var got []string
	for i := 0; i < 50; i++ {
		got = append(got, r.cmd(cmd)...)
		if has(got, want) {
			return got
		}
		sleepBriefly()
	}
	t.Fatalf("%s never reported %q: %q", cmd, want, got)
	return nil
}

// TestQResync follows RFC 7162 section 3.2: a client that knew the
// mailbox at HIGHESTMODSEQ h reselects with (QRESYNC (uidvalidity h
// known-uids)) after another session expunged and flagged messages, and
// gets VANISHED (EARLIER) for the expunged UIDs and FETCH for the changed
// one, nothing else; a QRESYNC session is told of expunges with VANISHED;
// UID FETCH (CHANGEDSINCE h VANISHED) reports the vanished UIDs too.
func TestQResync(t *testing.T) {
	env, a := condEnv(t, 6)
	if l := a.cmd("SELECT INBOX (QRESYNC (1 1))"); !strings.HasPrefix(l[len(l)-1], "T2 BAD") {
		t.Fatalf("QRESYNC before ENABLE: %q", l)
	}
	en := a.cmd("ENABLE QRESYNC")
	if !has(en, "* ENABLED QRESYNC") {
		t.Fatalf("ENABLE: %q", en)
	}
	sel := a.cmd("SELECT INBOX")
	h := find(t, highestRe, sel)
	uv := find(t, uvRe, sel)
	a.cmd("LOGOUT")

	b := env.raw()
	b.cmd("LOGIN alice@example.com %s", testPassword)
	b.cmd("SELECT INBOX")
	lastOK(t, "B delete", b.cmd(`STORE 2:3 +FLAGS.SILENT (\Deleted)`))
	lastOK(t, "B expunge", b.cmd("EXPUNGE"))
	lastOK(t, "B flag", b.cmd(`UID STORE 5 +FLAGS.SILENT (\Flagged)`))

	a2 := env.raw()
	a2.cmd("LOGIN alice@example.com %s", testPassword)
	a2.cmd("ENABLE QRESYNC")
	re := a2.cmd("SELECT INBOX (QRESYNC (%d %d 1:6))", uv, h)
	lastOK(t, "SELECT QRESYNC", re)
	if !has(re, "* VANISHED (EARLIER) 2:3\r\n") {
		t.Fatalf("QRESYNC select: no VANISHED (EARLIER) 2:3: %q", re)
	}
	if !has(re, `* 3 FETCH (UID 5 FLAGS (\Flagged) MODSEQ (`) || has(re, "UID 1 FLAGS") || has(re, "UID 4 FLAGS") {
		t.Fatalf("QRESYNC select: changed messages: %q", re)
	}
	// A wrong UIDVALIDITY gets a plain SELECT.
	re = a2.cmd("SELECT INBOX (QRESYNC (%d %d))", uv+1, h)
	if has(re, "VANISHED") || has(re, "FETCH") {
		t.Fatalf("QRESYNC with another UIDVALIDITY: %q", re)
	}
	f := a2.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", h)
	if !has(f, "* VANISHED (EARLIER) 2:3\r\n") || !has(f, "UID 5 FLAGS") || has(f, "UID 4 FLAGS") {
		t.Fatalf("UID FETCH VANISHED: %q", f)
	}
	if l := a2.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", h); !strings.HasPrefix(l[len(l)-1], "T6 BAD") {
		t.Fatalf("VANISHED without UID: %q", l)
	}

	// Expunge by B while A2 is selected: VANISHED, not EXPUNGE.
	lastOK(t, "B delete 6", b.cmd(`UID STORE 6 +FLAGS.SILENT (\Deleted)`))
	lastOK(t, "B expunge 6", b.cmd("EXPUNGE"))
	got := waitFor(t, a2, "NOOP", "* VANISHED 6\r\n")
	if has(got, "EXPUNGE") {
		t.Fatalf("QRESYNC session got EXPUNGE: %q", got)
	}
	// Its own EXPUNGE too, with HIGHESTMODSEQ in the tagged OK.
	a2.cmd(`UID STORE 1 +FLAGS.SILENT (\Deleted)`)
	x := a2.cmd("EXPUNGE")
	if !has(x, "* VANISHED 1\r\n") || !strings.Contains(x[len(x)-1], "OK [HIGHESTMODSEQ ") {
		t.Fatalf("EXPUNGE under QRESYNC: %q", x)
	}
}

// TestExpungeDuringFetchSearch: session B expunges message 2 while A
// (not yet told) fetches and searches 1:3; both succeed without an
// EXPUNGE in their response (RFC 9051 section 7.5.1), the FETCH returns
// what still exists, and the next NOOP reports the expunge.
func TestExpungeDuringFetchSearch(t *testing.T) {
	env, a := condEnv(t, 3)
	a.cmd("SELECT INBOX")
	b := env.raw()
	b.cmd("LOGIN alice@example.com %s", testPassword)
	b.cmd("SELECT INBOX")
	b.cmd(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	lastOK(t, "B expunge", b.cmd("EXPUNGE"))
	sleepBriefly()
	f := a.cmd("FETCH 1:3 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	lastOK(t, "FETCH", f)
	if has(f, "EXPUNGE") || !has(f, "* 1 FETCH") || !has(f, "* 3 FETCH") || has(f, "* 2 FETCH") {
		t.Fatalf("FETCH after another session's expunge: %q", f)
	}
	s := a.cmd("SEARCH 1:3 SUBJECT cond")
	lastOK(t, "SEARCH", s)
	if has(s, "EXPUNGE") || !has(s, "* SEARCH 1") {
		t.Fatalf("SEARCH after another session's expunge: %q", s)
	}
	if n := a.cmd("NOOP"); !has(n, "* 2 EXPUNGE") {
		t.Fatalf("NOOP: %q", n)
	}
}

// sleepBriefly gives the engine watch a moment to reach other sessions.
func sleepBriefly() { time.Sleep(20 * time.Millisecond) }
