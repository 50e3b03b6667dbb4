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

// SORT, THREAD and SEARCH of real mailing-list mail and spam against
// Dovecot's: the same messages, in the same order and with the same
// internal dates, appended to both; every sort key, both algorithms and
// the search keys below must give the same UIDs.
func TestSortThreadSearchMatchDovecot(t *testing.T) {
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

	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	hdr := func(k, v string) []imap.SearchCriteriaHeaderField {
		return []imap.SearchCriteriaHeaderField{{Key: k, Value: v}}
	}
	ehdr := func(k, v string) []HeaderMatch { return []HeaderMatch{{k, v}} }
	for _, q := range []struct {
		name string
		imap imap.SearchCriteria
		ours SearchCriteria
	}{
		{"FROM ettus", imap.SearchCriteria{Header: hdr("From", "ettus")}, SearchCriteria{Header: ehdr("From", "ettus")}},
		{"FROM yahoo.com", imap.SearchCriteria{Header: hdr("From", "yahoo.com")}, SearchCriteria{Header: ehdr("From", "yahoo.com")}},
		{"TO ilug", imap.SearchCriteria{Header: hdr("To", "ilug")}, SearchCriteria{Header: ehdr("To", "ilug")}},
		{"CC kernel", imap.SearchCriteria{Header: hdr("Cc", "kernel")}, SearchCriteria{Header: ehdr("Cc", "kernel")}},
		{"SUBJECT usrp", imap.SearchCriteria{Header: hdr("Subject", "usrp")}, SearchCriteria{Header: ehdr("Subject", "usrp")}},
		{"SUBJECT patch", imap.SearchCriteria{Header: hdr("Subject", "PATCH")}, SearchCriteria{Header: ehdr("Subject", "PATCH")}},
		{"HEADER X-Mailer", imap.SearchCriteria{Header: hdr("X-Mailer", "")}, SearchCriteria{Header: ehdr("X-Mailer", "")}},
		{"HEADER Message-ID yahoo", imap.SearchCriteria{Header: hdr("Message-ID", "yahoo")}, SearchCriteria{Header: ehdr("Message-ID", "yahoo")}},
		{"BODY kernel", imap.SearchCriteria{Body: []string{"kernel"}}, SearchCriteria{Body: []string{"kernel"}}},
		{"BODY viagra", imap.SearchCriteria{Body: []string{"viagra"}}, SearchCriteria{Body: []string{"viagra"}}},
		{"BODY Müller", imap.SearchCriteria{Body: []string{"Müller"}}, SearchCriteria{Body: []string{"Müller"}}},
		{"TEXT ettus.com", imap.SearchCriteria{Text: []string{"ettus.com"}}, SearchCriteria{Text: []string{"ettus.com"}}},
		{"NOT BODY the", imap.SearchCriteria{Not: []imap.SearchCriteria{{Body: []string{"the"}}}}, SearchCriteria{Not: []SearchCriteria{{Body: []string{"the"}}}}},
		{"SENTON 24-Jul-2002", imap.SearchCriteria{SentSince: day(2002, 7, 24), SentBefore: day(2002, 7, 25)}, SearchCriteria{SentSince: day(2002, 7, 24), SentBefore: day(2002, 7, 25)}},
		{"SENTSINCE 1-Sep-2002", imap.SearchCriteria{SentSince: day(2002, 9, 1)}, SearchCriteria{SentSince: day(2002, 9, 1)}},
		{"SENTBEFORE 1-Aug-2002", imap.SearchCriteria{SentBefore: day(2002, 8, 1)}, SearchCriteria{SentBefore: day(2002, 8, 1)}},
		{"LARGER 20000", imap.SearchCriteria{Larger: 20000}, SearchCriteria{Larger: 20000}},
		{"OR FROM yahoo SUBJECT money", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Header: hdr("From", "yahoo")}, {Header: hdr("Subject", "money")}}}},
			SearchCriteria{Or: [][2]SearchCriteria{{{Header: ehdr("From", "yahoo")}, {Header: ehdr("Subject", "money")}}}}},
	} {
		data, err := c.UIDSearch(&q.imap, nil).Wait()
		must(t, err)
		want := data.AllUIDs()
		ids, err := e.Search(ctx, a.ID, inbox, &q.ours)
		must(t, err)
		got := make([]uint32, 0, len(ids))
		for _, id := range ids {
			got = append(got, uidOf[id])
		}
		wantSet := map[uint32]bool{}
		for _, u := range want {
			wantSet[uint32(u)] = true
		}
		gotSet := map[uint32]bool{}
		var extra, missing []uint32
		for _, u := range got {
			gotSet[u] = true
			if !wantSet[u] {
				extra = append(extra, u)
			}
		}
		for _, u := range want {
			if !gotSet[uint32(u)] {
				missing = append(missing, uint32(u))
			}
		}
		if len(extra) > 0 || len(missing) > 0 {
			t.Errorf("SEARCH %s: %d hits, Dovecot %d; only ours %v, only Dovecot's %v", q.name, len(got), len(want),
				extra[:min(len(extra), 8)], missing[:min(len(missing), 8)])
		} else {
			t.Logf("SEARCH %s: %d hits, as Dovecot", q.name, len(got))
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
