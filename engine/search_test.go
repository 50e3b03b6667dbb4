package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/dedup"
)

// searchFixture is a folder with three messages of known content, flags,
// dates, sizes and MODSEQs.
type searchFixture struct {
	e          *Engine
	acct       uint64
	folder     uint64
	m1, m2, m3 Item
	modseq2    uint64 // MODSEQ of m2 after its flags changed last
}

const (
	// m1: Latin-1 encoded words, an address with a comment, groups, a
	// quoted-printable Latin-1 body; sent late on 3 March in -0800 (4
	// March in UTC).
	searchMsg1 = "From: \"Joe Q. Public\" <joe(at work)@example.org>\r\n" +
		"To: undisclosed-recipients:;\r\n" +
		"Cc: team: ann@example.com, bob@example.com;, carol@example.net\r\n" +
		"Subject: =?ISO-8859-1?Q?Caf=E9?= menu\r\n" +
		"Date: Mon, 3 Mar 2025 23:30:00 -0800\r\n" +
		"Message-ID: <m1@example.org>\r\n" +
		"Content-Type: text/plain; charset=iso-8859-1\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n" +
		"\r\n" +
		"Cr=E8me br=FBl=E9e for dessert\r\n"
	// m2: multipart with a base64 UTF-8 text part, a base64 attachment
	// and an attached message; UTF-8 encoded subject; sent early on 4
	// March in +0100 (3 March in UTC).
	searchMsg2 = "From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.de>\r\n" +
		"To: alice@example.org\r\n" +
		"Bcc: boss@example.com\r\n" +
		"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n" +
		"Date: Tue, 4 Mar 2025 00:30:00 +0100\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
		"\r\n" +
		"--b1\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"\r\n" +
		"w5xuw69jw7Zkw6kgbmVlZGxlIGluIFVURi04DQo=\r\n" +
		"--b1\r\n" +
		"Content-Type: application/octet-stream\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"\r\n" +
		"c2VjcmV0d29yZCBpbiBhbiBhdHRhY2htZW50\r\n" +
		"--b1\r\n" +
		"Content-Type: message/rfc822\r\n" +
		"\r\n" +
		"Subject: Inner forwarded subject\r\n" +
		"\r\n" +
		"inner body words\r\n" +
		"--b1--\r\n"
)

// searchMsg3 is larger than headerPeekMin, has no Date, a custom field and
// a windows-1251 quoted-printable body.
func searchMsg3() string {
	return "From: robot@example.net\r\n" +
		"Subject: Big report\r\n" +
		"X-Custom: Value42\r\n" +
		"Content-Type: text/plain; charset=windows-1251\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n" +
		"\r\n" +
		"=CF=F0=E8=E2=E5=F2 =EC=E8=F0\r\n" +
		strings.Repeat("filler line of the big report\r\n", 6000)
}

func newSearchFixture(t *testing.T) *searchFixture {
	t.Helper()
	e, a := newEngine(t)
	inbox := inboxOf(t, e, a.ID)
	d := time.Date(2025, 3, 5, 10, 0, 0, 0, time.UTC)
	f := &searchFixture{e: e, acct: a.ID, folder: inbox.ID}
	var err error
	f.m1, err = e.Append(ctx, a.ID, inbox.ID, []byte(searchMsg1), []string{`\Seen`, "$Work"}, d)
	must(t, err)
	f.m2, err = e.Append(ctx, a.ID, inbox.ID, []byte(searchMsg2), []string{`\Answered`}, d.Add(24*time.Hour))
	must(t, err)
	f.m3, err = e.Append(ctx, a.ID, inbox.ID, []byte(searchMsg3()), []string{`\Draft`, `\Deleted`}, d.Add(48*time.Hour))
	must(t, err)
	ch, err := e.StoreFlags(ctx, a.ID, inbox.ID, []uint64{f.m2.ID}, FlagsAdd, []string{`\Flagged`}, 0)
	must(t, err)
	f.modseq2 = ch[0].ModSeq
	return f
}

func TestSearchKeys(t *testing.T) {
	f := newSearchFixture(t)
	m1, m2, m3 := f.m1.ID, f.m2.ID, f.m3.ID
	day := func(dd int) time.Time { return time.Date(2025, 3, dd, 0, 0, 0, 0, time.UTC) }
	none := []SearchCriteria{{}}
	cases := []struct {
		name string
		c    SearchCriteria
		want []uint64
	}{
		{"ALL", SearchCriteria{}, []uint64{m1, m2, m3}},
		{"SEEN", SearchCriteria{Flags: []string{`\SEEN`}}, []uint64{m1}},
		{"UNSEEN", SearchCriteria{NotFlags: []string{`\Seen`}}, []uint64{m2, m3}},
		{"ANSWERED", SearchCriteria{Flags: []string{`\answered`}}, []uint64{m2}},
		{"FLAGGED", SearchCriteria{Flags: []string{`\Flagged`}}, []uint64{m2}},
		{"DELETED DRAFT", SearchCriteria{Flags: []string{`\Deleted`, `\Draft`}}, []uint64{m3}},
		{"UNDELETED", SearchCriteria{NotFlags: []string{`\Deleted`}}, []uint64{m1, m2}},
		{"KEYWORD any case", SearchCriteria{Flags: []string{"$work"}}, []uint64{m1}},
		{"UNKEYWORD", SearchCriteria{NotFlags: []string{"$WORK"}}, []uint64{m2, m3}},
		{"KEYWORD unknown", SearchCriteria{Flags: []string{"$Nope"}}, nil},
		{"RECENT is not stored", SearchCriteria{Flags: []string{`\Recent`}}, nil},
		{"SINCE", SearchCriteria{Since: day(6)}, []uint64{m2, m3}},
		{"BEFORE", SearchCriteria{Before: day(6)}, []uint64{m1}},
		{"ON", SearchCriteria{Since: day(6), Before: day(7)}, []uint64{m2}},
		// m1 was sent on 3 March in its zone (4 March in UTC), m2 on 4
		// March in its zone (3 March in UTC); m3 has no Date and counts
		// as sent on 1 January 1970.
		{"SENTON 3", SearchCriteria{SentSince: day(3), SentBefore: day(4)}, []uint64{m1}},
		{"SENTON 4", SearchCriteria{SentSince: day(4), SentBefore: day(5)}, []uint64{m2}},
		{"SENTSINCE", SearchCriteria{SentSince: day(4)}, []uint64{m2}},
		{"SENTBEFORE", SearchCriteria{SentBefore: day(4)}, []uint64{m1, m3}},
		{"SENTON 1970", SearchCriteria{SentSince: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), SentBefore: time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC)}, []uint64{m3}},
		{"SENTSINCE bound in another zone", SearchCriteria{SentSince: time.Date(2025, 3, 4, 0, 0, 0, 0, time.FixedZone("x", 3600))}, []uint64{m2}},
		{"LARGER", SearchCriteria{Larger: 10000}, []uint64{m3}},
		{"SMALLER", SearchCriteria{Smaller: 10000}, []uint64{m1, m2}},
		{"LARGER exact size is not larger", SearchCriteria{Larger: f.m1.Size}, []uint64{m2, m3}},
		{"SMALLER exact size is not smaller", SearchCriteria{Smaller: f.m1.Size}, nil},
		{"SUBJECT decoded latin-1", SearchCriteria{Header: []HeaderMatch{{"Subject", "café"}}}, []uint64{m1}},
		{"SUBJECT decoded utf-8 any case", SearchCriteria{Header: []HeaderMatch{{"subject", "GRÜßE AUS"}}}, []uint64{m2}},
		{"SUBJECT decoded utf-8", SearchCriteria{Header: []HeaderMatch{{"subject", "grüße aus"}}}, []uint64{m2}},
		{"SUBJECT not inner message", SearchCriteria{Header: []HeaderMatch{{"Subject", "inner"}}}, nil},
		{"FROM with comment in address", SearchCriteria{Header: []HeaderMatch{{"From", "joe@example.org"}}}, []uint64{m1}},
		{"FROM display name", SearchCriteria{Header: []HeaderMatch{{"From", "q. public"}}}, []uint64{m1}},
		{"FROM decoded name", SearchCriteria{Header: []HeaderMatch{{"From", "jürgen"}}}, []uint64{m2}},
		{"FROM domain", SearchCriteria{Header: []HeaderMatch{{"From", "example.net"}}}, []uint64{m3}},
		{"TO", SearchCriteria{Header: []HeaderMatch{{"To", "alice@"}}}, []uint64{m2}},
		{"TO group name", SearchCriteria{Header: []HeaderMatch{{"To", "undisclosed"}}}, []uint64{m1}},
		{"CC group member", SearchCriteria{Header: []HeaderMatch{{"Cc", "bob@example.com"}}}, []uint64{m1}},
		{"CC after group", SearchCriteria{Header: []HeaderMatch{{"Cc", "carol@"}}}, []uint64{m1}},
		{"BCC", SearchCriteria{Header: []HeaderMatch{{"Bcc", "boss"}}}, []uint64{m2}},
		{"HEADER custom", SearchCriteria{Header: []HeaderMatch{{"X-Custom", "value42"}}}, []uint64{m3}},
		{"HEADER present", SearchCriteria{Header: []HeaderMatch{{"x-custom", ""}}}, []uint64{m3}},
		{"HEADER absent", SearchCriteria{Header: []HeaderMatch{{"X-Missing", ""}}}, nil},
		{"HEADER message-id", SearchCriteria{Header: []HeaderMatch{{"Message-ID", "<m1@"}}}, []uint64{m1}},
		{"BODY quoted-printable latin-1", SearchCriteria{Body: []string{"CRÈME BRÛLÉE"}}, []uint64{m1}},
		{"BODY base64 utf-8", SearchCriteria{Body: []string{"ünïcödé needle"}}, []uint64{m2}},
		{"BODY windows-1251", SearchCriteria{Body: []string{"привет мир"}}, []uint64{m3}},
		{"BODY attached message header", SearchCriteria{Body: []string{"inner forwarded"}}, []uint64{m2}},
		{"BODY attached message body", SearchCriteria{Body: []string{"inner body words"}}, []uint64{m2}},
		{"BODY not in base64 attachment", SearchCriteria{Body: []string{"secretword"}}, nil},
		{"BODY not the header", SearchCriteria{Body: []string{"menu"}}, nil},
		{"BODY every string", SearchCriteria{Body: []string{"crème", "dessert"}}, []uint64{m1}},
		{"BODY every string, one missing", SearchCriteria{Body: []string{"crème", "pizza"}}, nil},
		{"TEXT header", SearchCriteria{Text: []string{"café menu"}}, []uint64{m1}},
		{"TEXT body", SearchCriteria{Text: []string{"filler line"}}, []uint64{m3}},
		{"TEXT field name", SearchCriteria{Text: []string{"x-custom"}}, []uint64{m3}},
		{"UID range", SearchCriteria{UIDs: []UIDRange{{2, 3}}}, []uint64{m2, m3}},
		{"UID star", SearchCriteria{UIDs: []UIDRange{{2, 0}}}, []uint64{m2, m3}},
		{"UID star beyond the last", SearchCriteria{UIDs: []UIDRange{{9, 0}}}, []uint64{m3}},
		{"UID reversed", SearchCriteria{UIDs: []UIDRange{{3, 1}}}, []uint64{m1, m2, m3}},
		{"UID set", SearchCriteria{UIDs: []UIDRange{{1, 1}, {3, 3}}}, []uint64{m1, m3}},
		{"UID none", SearchCriteria{UIDs: []UIDRange{{5, 9}}}, nil},
		{"empty set", SearchCriteria{Not: none}, nil},
		{"AND of two sets", SearchCriteria{And: []SearchCriteria{{UIDs: []UIDRange{{1, 2}}}, {UIDs: []UIDRange{{2, 3}}}}}, []uint64{m2}},
		{"NOT", SearchCriteria{Not: []SearchCriteria{{Flags: []string{`\Seen`}}}}, []uint64{m2, m3}},
		{"NOT text", SearchCriteria{Not: []SearchCriteria{{Body: []string{"needle"}}}}, []uint64{m1, m3}},
		{"OR", SearchCriteria{Or: [][2]SearchCriteria{{{Flags: []string{`\Seen`}}, {Larger: 10000}}}}, []uint64{m1, m3}},
		{"OR text", SearchCriteria{Or: [][2]SearchCriteria{{{Body: []string{"dessert"}}, {Header: []HeaderMatch{{"Bcc", "boss"}}}}}}, []uint64{m1, m2}},
		{"OR nested NOT", SearchCriteria{Or: [][2]SearchCriteria{{{Not: []SearchCriteria{{NotFlags: []string{`\Draft`}}}}, {Header: []HeaderMatch{{"From", "joe"}}}}}}, []uint64{m1, m3}},
		{"nested AND in OR", SearchCriteria{Or: [][2]SearchCriteria{{
			{And: []SearchCriteria{{Flags: []string{`\Seen`}}, {Body: []string{"pizza"}}}},
			{And: []SearchCriteria{{Flags: []string{`\Answered`}}, {Body: []string{"needle"}}}},
		}}}, []uint64{m2}},
		{"MODSEQ", SearchCriteria{ModSeq: f.modseq2}, []uint64{m2}},
		{"MODSEQ all", SearchCriteria{ModSeq: 1}, []uint64{m1, m2, m3}},
		{"MODSEQ above all", SearchCriteria{ModSeq: f.modseq2 + 1}, nil},
		{"combined", SearchCriteria{NotFlags: []string{`\Deleted`}, Header: []HeaderMatch{{"To", "alice"}}, Body: []string{"needle"}, ModSeq: 1}, []uint64{m2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.e.Search(ctx, f.acct, f.folder, &tc.c)
			must(t, err)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v want %v", got, tc.want)
			}
			// The same evaluator over items of another source.
			items, err := f.e.ListItems(ctx, f.acct, f.folder)
			must(t, err)
			in, err := SearchIn(ctx, items, engineReader{f.e}, &tc.c)
			must(t, err)
			if fmt.Sprint(itemIDs(in)) != fmt.Sprint(tc.want) {
				t.Errorf("SearchIn: got %v want %v", itemIDs(in), tc.want)
			}
		})
	}
}

// Criteria decided from the projection read no blob; a header key on a
// large message reads its first bytes, not the whole message.
func TestSearchReadsOnlyWhatItNeeds(t *testing.T) {
	f := newSearchFixture(t)
	must(t, f.e.Checkpoint(ctx)) // inline copies written: reads go to the volume
	count := func(c SearchCriteria) (reads int) {
		t.Helper()
		q, err := compileSearch(&c)
		must(t, err)
		items, err := f.e.ListItems(ctx, f.acct, f.folder)
		must(t, err)
		for _, it := range items {
			m := &searchMsg{src: f.e, ctx: ctx, it: it, maxUID: 3}
			r, err := q.eval(m, false)
			must(t, err)
			if r == unknown {
				_, err = q.eval(m, true)
				must(t, err)
			}
			if m.raw != nil {
				reads += 2
			} else if m.hdrOK {
				reads++
			}
		}
		return reads
	}
	if n := count(SearchCriteria{Flags: []string{`\Seen`}, Larger: 5, UIDs: []UIDRange{{1, 0}}, Not: []SearchCriteria{{ModSeq: 1 << 40}}}); n != 0 {
		t.Errorf("flag/size/uid/modseq search read %d", n)
	}
	// A text key behind a failing flag test reads nothing.
	if n := count(SearchCriteria{Flags: []string{`\Seen`}, Body: []string{"x"}}); n != 2 {
		t.Errorf("body search of the one seen message: %d reads, want one whole message (2)", n)
	}
	// OR decided by its cheap side reads nothing.
	if n := count(SearchCriteria{Or: [][2]SearchCriteria{{{UIDs: []UIDRange{{1, 0}}}, {Body: []string{"x"}}}}}); n != 0 {
		t.Errorf("OR with a true cheap side read %d", n)
	}
	// A header key on the large message reads its header only.
	if n := count(SearchCriteria{UIDs: []UIDRange{{3, 3}}, Header: []HeaderMatch{{"Subject", "big"}}}); n != 1 {
		t.Errorf("header search of the large message: %d, want a header read (1)", n)
	}
}

func TestSearchDeadline(t *testing.T) {
	f := newSearchFixture(t)
	c, cancel := context.WithCancel(ctx)
	cancel()
	_, err := f.e.Search(c, f.acct, f.folder, &SearchCriteria{Body: []string{"x"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("search with a cancelled context: %v", err)
	}
}

func TestSearchBounds(t *testing.T) {
	f := newSearchFixture(t)
	c := SearchCriteria{}
	for i := 0; i < maxSearchDepth+1; i++ {
		c = SearchCriteria{Not: []SearchCriteria{c}}
	}
	_, err := f.e.Search(ctx, f.acct, f.folder, &c)
	wantErr(t, err, ErrInvalid)
	wide := SearchCriteria{And: make([]SearchCriteria, maxSearchNodes)}
	_, err = f.e.Search(ctx, f.acct, f.folder, &wide)
	wantErr(t, err, ErrInvalid)
	_, err = f.e.Search(ctx, f.acct, 999, nil)
	wantErr(t, err, ErrNotFound)
}

func TestParseAddrs(t *testing.T) {
	cases := []struct{ in, want string }{
		{`"Joe Q. Public" <joe(at work)@example.org>`, "[Joe Q. Public <joe@example.org>]"},
		{`undisclosed-recipients:;`, "[]"},
		{`team: ann@example.com, bob@example.com;, carol@example.net`, "[ann@example.com bob@example.com carol@example.net]"},
		{`=?UTF-8?Q?J=C3=BCrgen?= <juergen@example.de>, broken@@, x@y.z`, "[Jürgen <juergen@example.de> x@y.z]"},
		{`"a, b" <ab@example.org>`, "[a, b <ab@example.org>]"},
		{`joe @ example.org (Joe)`, "[joe@example.org]"},
	}
	for _, tc := range cases {
		var got []string
		for _, a := range parseAddrs(tc.in) {
			got = append(got, a.String())
		}
		if s := "[" + strings.Join(got, " ") + "]"; s != tc.want {
			t.Errorf("parseAddrs(%q) = %s, want %s", tc.in, s, tc.want)
		}
	}
}

func BenchmarkSearchFlags(b *testing.B) {
	e, a := newEngine(b)
	inbox := inboxOf(b, e, a.ID)
	for i := 0; i < 2000; i++ {
		fl := []string(nil)
		if i%3 == 0 {
			fl = []string{`\Seen`}
		}
		_, err := e.Append(ctx, a.ID, inbox.ID, msg(fmt.Sprint("s", i), "body"), fl, time.Time{})
		must(b, err)
	}
	c := &SearchCriteria{NotFlags: []string{`\Seen`}, Or: [][2]SearchCriteria{{{Flags: []string{"$x"}}, {Not: []SearchCriteria{{Flags: []string{`\Deleted`}}}}}}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Search(ctx, a.ID, inbox.ID, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSearchHeader(b *testing.B) {
	e, a := newEngine(b)
	inbox := inboxOf(b, e, a.ID)
	for i := 0; i < 2000; i++ {
		_, err := e.Append(ctx, a.ID, inbox.ID, msg(fmt.Sprint("subject ", i), "body"), nil, time.Time{})
		must(b, err)
	}
	c := &SearchCriteria{Header: []HeaderMatch{{"Subject", "subject 1999"}}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Search(ctx, a.ID, inbox.ID, c); err != nil {
			b.Fatal(err)
		}
	}
}

// engineReader reads the engine's blobs as another source (the backup
// repository) is read through SearchIn, SortIn and ThreadIn.
type engineReader struct{ e *Engine }

func (r engineReader) ReadBlob(ctx context.Context, d dedup.Digest) ([]byte, error) {
	return r.e.readBlob(ctx, d)
}

func itemIDs(items []Item) []uint64 {
	var out []uint64
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

// Date: values as real mail writes them, read as Dovecot reads them.
func TestSentDate(t *testing.T) {
	cases := []struct{ in, want string }{
		{"Mon, 3 Mar 2025 23:30:00 -0800", "2025-03-04T07:30:00Z"},
		{"Wed, 24 Jul 2002 08:53:59 EDT", "2002-07-24T12:53:59Z"},
		{"Wed, 24 Jul 2002 08:53:59 pst", "2002-07-24T16:53:59Z"},
		{"Wed, 24 Jul 2002 08:53:59 GMT", "2002-07-24T08:53:59Z"},
		{"Tue, 23 Jul 2002 09:18:54 -0400 (EDT)", "2002-07-23T13:18:54Z"},
		{"Sat, 14 Sep 2002 13:36:40", "2002-09-14T13:36:40Z"},
		{"Fri, 30 Aug 02 05:32:48 Eastern Daylight Time", "2002-08-30T05:32:48Z"},
		{"Thu, 29 Aug 2002 15:36:58 +-0500", "2002-08-29T15:36:58Z"},
		{"Fri, 21 Nov 1997 09(comment):   55  :  06 -0600", "1997-11-21T15:55:06Z"},
		{"Thu, 22 Aug 0102 12:07:35 +0800", "none"},
		{"bogus", "none"},
		{"", "none"},
	}
	for _, tc := range cases {
		got := "none"
		if d, ok := sentDate(tc.in); ok {
			got = d.UTC().Format(time.RFC3339)
		}
		if got != tc.want {
			t.Errorf("sentDate(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestHeaderTextIsUTF8(t *testing.T) {
	cases := []struct{ in, want string }{
		{"\"Nils O. Sel\xe5sdal\" <noselasd@Utel.no>", "[Nils O. Sel\ufffdsdal <noselasd@Utel.no>]"},
		{"\"'=?UTF-8?B?TWFyY3VzIE3DvGxsZXI=?='\" <marcus@example.com>", "['Marcus Müller' <marcus@example.com>]"},
		{"<Undisclosed-Recipient:;@netnoteinc.com>", "[Undisclosed-Recipient:;@netnoteinc.com]"},
		{"\xa4p\xa7d@example.org", "[\ufffdp\ufffdd@example.org]"},
	}
	for _, tc := range cases {
		var got []string
		for _, a := range parseAddrs(tc.in) {
			got = append(got, a.String())
		}
		if s := "[" + strings.Join(got, " ") + "]"; s != tc.want {
			t.Errorf("parseAddrs(%q) = %s, want %s", tc.in, s, tc.want)
		}
	}
	for in, want := range map[string]string{
		"undisclosed-recipients:;":              "undisclosed-recipients",
		`"Team (all)": a@b.c;`:                  "Team (all)",
		"a@b.c, team: d@e.f;":                   "",
		"<Undisclosed-Recipient:;@example.org>": "",
	} {
		got, ok := leadingGroup(in)
		if got != want || ok != (want != "") {
			t.Errorf("leadingGroup(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
