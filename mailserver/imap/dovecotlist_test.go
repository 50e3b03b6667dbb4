package imap

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

var reListLine = regexp.MustCompile(`^\* (LIST|LSUB) \(([^)]*)\) (?:"[^"]*"|NIL) ("[^"]*"|\S+)(.*)$`)

// listSet is a LIST or LSUB answer as sorted "name attrs [extra]" lines:
// attributes lower-cased and sorted, \HasChildren and \HasNoChildren left
// out unless CHILDREN was asked for (both servers send some of them
// unasked, which RFC 5258 allows), \Marked and \Unmarked always.
func listSet(r dresp, keepHasNo bool) []string {
	var out []string
	for _, l := range r.untagged {
		m := reListLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var attrs []string
		for _, a := range strings.Fields(m[2]) {
			a = strings.ToLower(a)
			if (a == `\hasnochildren` || a == `\haschildren`) && !keepHasNo || a == `\unmarked` || a == `\marked` {
				continue
			}
			attrs = append(attrs, a)
		}
		slices.Sort(attrs)
		extra := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(m[4]), `"`, ""))
		out = append(out, m[1]+" "+strings.Trim(m[3], `"`)+" "+strings.Join(attrs, ",")+" "+extra)
	}
	slices.Sort(out)
	return out
}

// TestListSubscriptionsAgainstDovecot runs the same SUBSCRIBE, CREATE,
// DELETE, RENAME and LIST/LSUB/LIST-EXTENDED commands against tidemark
// and Dovecot and compares the answers (names, attributes and CHILDINFO),
// except where tidemark deliberately differs and RFC 9051 allows it:
// SUBSCRIBE of a name without a mailbox is accepted (Dovecot refuses it),
// so the run subscribes such a name only by subscribing a mailbox and
// deleting it.
func TestListSubscriptionsAgainstDovecot(t *testing.T) {
	sides := []diffServer{dovecotSide(t), tidemarkSide(t)}
	var sess []*dsess
	for _, srv := range sides {
		sess = append(sess, dialSess(t, "L", srv.dial(), srv.user, srv.pass))
	}
	steps := []struct {
		cmd     string
		compare bool // compare the LIST/LSUB lines
		hasNo   bool // keep \HasNoChildren (CHILDREN asked for)
	}{
		// Parents are created first: Dovecot's Maildir++ leaves lt/a a
		// \NonExistent name under CREATE lt/a/b, tidemark creates it as
		// RFC 9051 section 6.3.4 says a server SHOULD.
		{"CREATE lt/a", false, false},
		{"CREATE lt/a/b", false, false},
		{"CREATE lt/c", false, false},
		{"CREATE lt/d", false, false},
		{"SUBSCRIBE lt/a/b", false, false},
		{"SUBSCRIBE lt/c", false, false},
		{"SUBSCRIBE lt/d", false, false},
		{`LIST "" "lt/*"`, true, false},
		{`LIST (SUBSCRIBED) "" "lt/*"`, true, false},
		{`LIST (SUBSCRIBED RECURSIVEMATCH) "" "lt/%"`, true, false},
		{`LIST "" "lt/*" RETURN (CHILDREN SUBSCRIBED)`, true, true},
		{`LSUB "" "lt/*"`, true, false},
		{`LSUB "" "lt/%"`, true, false},
		{"DELETE lt/d", false, false},
		{`LIST (SUBSCRIBED) "" "lt/*"`, true, false},
		{`LIST "" "lt/*" RETURN (SUBSCRIBED)`, true, false},
		{"RENAME lt/c lt/e", false, false},
		{`LIST (SUBSCRIBED) "" "lt/*"`, true, false},
		{`LIST "" "lt/*" RETURN (CHILDREN SUBSCRIBED)`, true, true},
		{"DELETE lt/a/b", false, false},
		{"DELETE lt/a", false, false},
		{`LIST (SUBSCRIBED RECURSIVEMATCH) "" "lt/%"`, true, false},
		{`LIST "" "lt/*" RETURN (CHILDREN SUBSCRIBED)`, true, true},
		{"UNSUBSCRIBE lt/a/b", false, false},
		{`LIST (SUBSCRIBED RECURSIVEMATCH) "" "lt/%"`, true, false},
		{`LIST (SUBSCRIBED) "" "lt/*"`, true, false},
		{"UNSUBSCRIBE lt/d", false, false},
		{"UNSUBSCRIBE lt/c", false, false},
		{`LIST (SUBSCRIBED) "" "lt/*"`, true, false},
		{`LIST "" ""`, true, false},
	}
	for _, st := range steps {
		var status []string
		var lists [][]string
		for _, s := range sess {
			r := s.cmd("%s", st.cmd)
			status = append(status, r.status)
			lists = append(lists, listSet(r, st.hasNo))
		}
		if status[0] != status[1] {
			t.Errorf("%s: dovecot %s, tidemark %s", st.cmd, status[0], status[1])
		}
		if st.compare && !slices.Equal(lists[0], lists[1]) {
			t.Errorf("%s:\n dovecot  %q\n tidemark %q", st.cmd, lists[0], lists[1])
		}
	}
}
