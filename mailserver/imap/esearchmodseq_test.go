package imap

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestESearchModSeqMinMax: with RETURN (MIN), (MAX) or (MIN MAX) and no
// ALL or COUNT, the ESEARCH MODSEQ is the highest mod-sequence of the
// messages returned, not of every match (RFC 7162 section 3.1.5), and
// SAVE keeps only those messages (RFC 5182 section 2.4). Derived from the
// expectations of Dovecot's imaptest, written anew.
func TestESearchModSeqMinMax(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	for i := 1; i <= 4; i++ {
		appendMsg(t, c, "INBOX", testMessage(i, "m"), nil)
	}
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	r.cmd("ENABLE CONDSTORE")
	// Flag the messages out of order so sequence order and mod-sequence
	// order differ: 4, then 1, then 3, then 2.
	modseq := map[int]uint64{}
	re := regexp.MustCompile(`MODSEQ \((\d+)\)`)
	for _, n := range []int{4, 1, 3, 2} {
		out := strings.Join(r.cmd("STORE %d +FLAGS (\\Flagged)", n), "")
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("STORE %d: no MODSEQ in %q", n, out)
		}
		modseq[n], _ = strconv.ParseUint(m[1], 10, 64)
	}
	search := func(ret, set string) string {
		t.Helper()
		out := r.cmd("SEARCH RETURN (%s) %s MODSEQ 1", ret, set)
		for _, l := range out {
			if strings.HasPrefix(l, "* ESEARCH") {
				return strings.TrimSpace(l)
			}
		}
		t.Fatalf("SEARCH RETURN (%s): no ESEARCH in %q", ret, out)
		return ""
	}
	for _, c := range []struct {
		ret, set string
		want     string
	}{
		{"MIN", "1:3", "MIN 1 MODSEQ " + strconv.FormatUint(modseq[1], 10)},
		{"MAX", "1:3", "MAX 3 MODSEQ " + strconv.FormatUint(modseq[3], 10)},
		{"MIN MAX", "1,3", "MIN 1 MAX 3 MODSEQ " + strconv.FormatUint(max(modseq[1], modseq[3]), 10)},
		{"MIN MAX", "2:4", "MIN 2 MAX 4 MODSEQ " + strconv.FormatUint(max(modseq[2], modseq[4]), 10)},
		// ALL or COUNT: the highest of every match.
		{"ALL", "1,3", "ALL 1,3 MODSEQ " + strconv.FormatUint(max(modseq[1], modseq[3]), 10)},
		{"MIN COUNT", "1:3", "MIN 1 COUNT 3 MODSEQ " + strconv.FormatUint(modseq[2], 10)},
	} {
		got := search(c.ret, c.set)
		if !strings.HasSuffix(got, c.want) {
			t.Errorf("SEARCH RETURN (%s) %s: %q, want it to end %q", c.ret, c.set, got, c.want)
		}
	}

	// SAVE with MIN and MAX saves those two, not the messages between.
	r.cmd("SEARCH RETURN (SAVE MIN MAX) 1:4 FLAGGED")
	out := strings.Join(r.cmd("FETCH $ (UID)"), "")
	if !strings.Contains(out, "* 1 FETCH") || !strings.Contains(out, "* 4 FETCH") ||
		strings.Contains(out, "* 2 FETCH") || strings.Contains(out, "* 3 FETCH") {
		t.Errorf("FETCH $ after SAVE MIN MAX: %q, want messages 1 and 4 only", out)
	}
	// SAVE with ALL keeps every match.
	r.cmd("SEARCH RETURN (SAVE ALL) 2:3 FLAGGED")
	out = strings.Join(r.cmd("FETCH $ (UID)"), "")
	if !strings.Contains(out, "* 2 FETCH") || !strings.Contains(out, "* 3 FETCH") || strings.Contains(out, "* 1 FETCH") {
		t.Errorf("FETCH $ after SAVE ALL: %q, want messages 2 and 3", out)
	}
}
