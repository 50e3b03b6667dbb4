package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/internal/dovecottest"
	"github.com/tidemark/tidemark/internal/testcorpus"
)

// SORT and THREAD of real mailing-list mail against Dovecot's: the same
// messages, in the same order and with the same internal dates, appended
// to both; every sort key and both algorithms must give the same UIDs.
func TestSortThreadMatchDovecot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Dovecot")
	}
	var bodies [][]byte
	for _, arch := range []string{"spamassassin-easy-ham-2.tar.zst", "usrp-users-2021.tar.zst", "linux-security-module-2020H1.tar.zst", "spamassassin-spam.tar.zst"} {
		files := testcorpus.Realistic(t, arch)
		for _, f := range files[:min(len(files), 400)] {
			// Addresses that are not RFC 5322 (<>, <C:`x@y>,
			// <name:@host;>) sort differently by design: Dovecot
			// as its placeholder "MISSING_MAILBOX" or a group,
			// tidemark by the address as written.
			if hdr, _, _ := strings.Cut(string(f.Data), "\n\n"); strings.Contains(hdr, "<>") ||
				strings.Contains(hdr, "<C:`") || strings.Contains(hdr, "<undisclosed-recipients:@") {
				continue
			}
			bodies = append(bodies, testcorpus.CRLF(f.Data))
		}
	}
	s := dovecottest.Start(t)
	c, err := imapclient.DialTLS(s.Addr, &imapclient.Options{TLSConfig: s.TLSConfig()})
	must(t, err)
	t.Cleanup(func() { c.Close() })
	must(t, c.Login(s.User, s.Password).Wait())

	e, a := newEngine(t)
	inbox := inboxOf(t, e, a.ID).ID
	msgs := make([]NewMessage, len(bodies))
	for i, b := range bodies {
		// Distinct internal dates, not in message order.
		date := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i*7919%len(bodies)) * time.Minute)
		msgs[i] = NewMessage{Body: b, InternalDate: date}
		cmd := c.Append("INBOX", int64(len(b)), &imap.AppendOptions{Time: date})
		_, err := cmd.Write(b)
		must(t, err)
		must(t, cmd.Close())
		_, err = cmd.Wait()
		must(t, err)
	}
	items, errs := e.AppendMany(ctx, a.ID, inbox, msgs, event.AddAppended)
	for _, err := range errs {
		must(t, err)
	}
	uidOf := map[uint64]uint32{}
	for _, it := range items {
		uidOf[it.ID] = it.UID
	}
	_, err = c.Select("INBOX", nil).Wait()
	must(t, err)

	for _, keys := range [][]SortKey{
		{{Field: SortArrival}},
		{{Field: SortDate}},
		{{Field: SortDate, Reverse: true}},
		{{Field: SortSize}},
		{{Field: SortSubject}},
		{{Field: SortFrom}},
		{{Field: SortTo}},
		{{Field: SortCc}},
		{{Field: SortDisplayFrom}},
		{{Field: SortDisplayTo}},
		{{Field: SortSubject, Reverse: true}, {Field: SortSize}},
	} {
		var crit []imapclient.SortCriterion
		var name []string
		for _, k := range keys {
			key := map[SortField]imapclient.SortKey{SortArrival: "ARRIVAL", SortDate: "DATE", SortSize: "SIZE",
				SortSubject: "SUBJECT", SortFrom: "FROM", SortTo: "TO", SortCc: "CC",
				SortDisplayFrom: "DISPLAYFROM", SortDisplayTo: "DISPLAYTO"}[k.Field]
			crit = append(crit, imapclient.SortCriterion{Key: key, Reverse: k.Reverse})
			name = append(name, fmt.Sprint(k.Reverse, key))
		}
		want, err := c.UIDSort(&imapclient.SortOptions{SearchCriteria: &imap.SearchCriteria{}, SortCriteria: crit}).Wait()
		must(t, err)
		ids, err := e.Sort(ctx, a.ID, inbox, keys, nil)
		must(t, err)
		got := make([]uint32, len(ids))
		for i, id := range ids {
			got[i] = uidOf[id]
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Errorf("SORT %v differs from Dovecot's at position %d: ours %v, Dovecot %v", name, i,
				got[i:min(len(got), i+5)], want[i:min(len(want), i+5)])
		}
	}

	for _, alg := range []ThreadAlgorithm{ThreadReferences, ThreadOrderedSubject} {
		data, err := c.UIDThread(&imapclient.ThreadOptions{Algorithm: imap.ThreadAlgorithm(alg), SearchCriteria: &imap.SearchCriteria{}}).Wait()
		must(t, err)
		var want []string
		for _, d := range data {
			want = append(want, "("+threadDataString(d)+")")
		}
		ts, err := e.Thread(ctx, a.ID, inbox, alg, nil)
		must(t, err)
		var got []string
		for _, th := range ts {
			got = append(got, threadString([]*Thread{renumber(th, uidOf)}))
		}
		for i := range max(len(got), len(want)) {
			g, w := "", ""
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("THREAD=%s: thread %d of %d/%d differs:\n ours    %s\n Dovecot %s", alg, i, len(got), len(want), g, w)
				break
			}
		}
	}
}

func firstDiff(a, b []uint32) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

func renumber(t *Thread, uid map[uint64]uint32) *Thread {
	out := &Thread{Item: uint64(uid[t.Item])}
	for _, c := range t.Children {
		out.Children = append(out.Children, renumber(c, uid))
	}
	return out
}

// threadDataString writes go-imap's thread data as threadString does.
func threadDataString(d imapclient.ThreadData) string {
	var parts []string
	for _, n := range d.Chain {
		parts = append(parts, fmt.Sprint(n))
	}
	s := strings.Join(parts, " ")
	for i, sub := range d.SubThreads {
		if i == 0 && s != "" {
			s += " "
		}
		s += "(" + threadDataString(sub) + ")"
	}
	return s
}
