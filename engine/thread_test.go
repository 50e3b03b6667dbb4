package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestBaseSubject(t *testing.T) {
	cases := []struct {
		in, want string
		rf       bool
	}{
		{"", "", false},
		{"Hello", "Hello", false},
		{"  Hello \t  world  ", "Hello world", false},
		{"Hello\r\n world", "Hello world", false},
		{"Re: Hello", "Hello", true},
		{"RE:Hello", "Hello", true},
		{"re : Hello", "Hello", true},
		{"Re: Re: re: Hello", "Hello", true},
		{"Fw: Hello", "Hello", true},
		{"FWD: Hello", "Hello", true},
		{"Fwd : Hello", "Hello", true},
		{"Re[2]: Hello", "Hello", true},
		{"Re [list]: Hello", "Hello", true},
		{"[list] Re: Hello", "Hello", true},
		{"[list][other] Re: Hello", "Hello", true},
		{"[list] Hello", "Hello", false},
		{"[list]  [other]   Hello", "Hello", false},
		{"[list]", "[list]", false},
		{"[a][b]", "[b]", false},
		{"[a] [b] ", "[b]", false},
		{"Hello (fwd)", "Hello", true},
		{"Hello (FWD) (fwd)  ", "Hello", true},
		{"[fwd: Hello]", "Hello", true},
		{"[FWD: Re: Hello (fwd)]", "Hello", true},
		{"Re: [fwd: [list] Re: Hello]", "Hello", true},
		{"[fwd:]", "", true},
		{"Re:", "", true},
		{"Re: ", "", true},
		{"Reply: Hello", "Reply: Hello", false},
		{"Fwiw: Hello", "Fwiw: Hello", false},
		{"Refactor", "Refactor", false},
		{"[unclosed Re: Hello", "[unclosed Re: Hello", false},
		{"Re: [fwd: x", "[fwd: x", true},
		{"=?UTF-8?Q?Re=3A_Gr=C3=BC=C3=9Fe?=", "Grüße", true},
		{"=?ISO-8859-1?Q?Caf=E9?= =?ISO-8859-1?Q?_au_lait?=", "Café au lait", false},
		{"Re: =?UTF-8?B?w5xiZXI=?= [x]", "Über [x]", true},
		{"=?bogus?Q?x?=", "x", false},
		{"Caf\xe9 =?bogus?Q?=E9t=E9?=", "Caf\ufffd \ufffdt\ufffd", false},
		{"\xb4\xf0\xb8\xb4: x", "\ufffd: x", false},
	}
	for _, tc := range cases {
		got, rf := BaseSubject(tc.in)
		if got != tc.want || rf != tc.rf {
			t.Errorf("BaseSubject(%q) = %q, %v; want %q, %v", tc.in, got, rf, tc.want, tc.rf)
		}
	}
}

func FuzzBaseSubject(f *testing.F) {
	for _, s := range []string{"Re: [fwd: [list] Re: Hello (fwd)]", "[a][b]", "Fwd[x]:y", "[fwd:[fwd:]]", "=?UTF-8?Q?Re=3A_x?=", "re:\tre:  x (fwd)", "[\x00]x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, _ := BaseSubject(s)
		d, _ := baseSubjectDecoded(decodeWords(s))
		if b != d {
			t.Fatalf("BaseSubject(%q) = %q, decoded path %q", s, b, d)
		}
		if again, _ := baseSubjectDecoded(b); again != b {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, b, again)
		}
		if strings.HasPrefix(b, " ") || strings.HasSuffix(b, " ") || strings.Contains(b, "  ") || strings.ContainsAny(b, "\t\r\n") {
			t.Fatalf("white space left in %q (from %q)", b, s)
		}
		if utf8.ValidString(decodeWords(s)) && !utf8.ValidString(b) {
			t.Fatalf("valid UTF-8 %q gave invalid %q", s, b)
		}
		if len(b) > len(collapseSpace(decodeWords(s))) {
			t.Fatalf("base %q longer than its subject %q", b, s)
		}
	})
}

// tm builds a threadMsg: id, Message-ID, references, subject and the sent
// minute.
func tm(id uint64, mid, refs, subject string, minute int) threadMsg {
	return threadMsg{
		id: id, seq: int(id), messageID: mid, refs: threadRefs(refs, ""), subject: subject,
		sent: time.Date(2025, 3, 1, 0, minute, 0, 0, time.UTC),
	}
}

// threadString writes a forest as IMAP does, a dummy as "()": a single
// child follows its parent, several children are each in parentheses.
func threadString(ts []*Thread) string {
	var b strings.Builder
	var node func(t *Thread)
	node = func(t *Thread) {
		if t.Item != 0 {
			fmt.Fprint(&b, t.Item)
		}
		switch len(t.Children) {
		case 0:
		case 1:
			if t.Item != 0 {
				b.WriteByte(' ')
			}
			node(t.Children[0])
		default:
			for i, c := range t.Children {
				if i == 0 && t.Item != 0 {
					b.WriteByte(' ')
				}
				b.WriteByte('(')
				node(c)
				b.WriteByte(')')
			}
		}
	}
	for _, t := range ts {
		b.WriteByte('(')
		node(t)
		b.WriteByte(')')
	}
	return b.String()
}

func TestThreadReferences(t *testing.T) {
	cases := []struct {
		name string
		msgs []threadMsg
		want string
	}{
		{"single", []threadMsg{tm(1, "a@x", "", "Hi", 0)}, "(1)"},
		{"chain", []threadMsg{
			tm(1, "a@x", "", "Hi", 0),
			tm(2, "b@x", "<a@x>", "Re: Hi", 1),
			tm(3, "c@x", "<a@x> <b@x>", "Re: Hi", 2),
		}, "(1 2 3)"},
		{"siblings by date", []threadMsg{
			tm(1, "a@x", "", "Hi", 0),
			tm(2, "b@x", "<a@x>", "Re: Hi", 5),
			tm(3, "c@x", "<a@x>", "Re: Hi", 2),
		}, "(1 (3)(2))"},
		{"equal dates keep sequence order", []threadMsg{
			tm(1, "a@x", "", "Hi", 0),
			tm(2, "b@x", "<a@x>", "x", 2),
			tm(3, "c@x", "<a@x>", "y", 2),
		}, "(1 (2)(3))"},
		{"In-Reply-To when there are no References", []threadMsg{
			tm(1, "a@x", "", "Hi", 0),
			{id: 2, seq: 2, messageID: "b@x", refs: threadRefs("", "<a@x> <zzz@x>"), subject: "other", sent: time.Date(2025, 3, 1, 0, 1, 0, 0, time.UTC)},
		}, "(1 2)"},
		{"missing parent with one child: promoted", []threadMsg{
			tm(1, "b@x", "<gone@x>", "Re: Hi", 0),
		}, "(1)"},
		{"missing parent with two children: a dummy at the top", []threadMsg{
			tm(1, "b@x", "<gone@x>", "one", 0),
			tm(2, "c@x", "<gone@x>", "two", 1),
		}, "((1)(2))"},
		{"missing middle: grandchild under grandparent", []threadMsg{
			tm(1, "a@x", "", "Hi", 0),
			tm(2, "c@x", "<a@x> <gone@x>", "Re: Hi", 1),
			tm(3, "d@x", "<a@x> <gone@x>", "Re: Hi", 2),
		}, "(1 (2)(3))"},
		{"missing root, dummy children ordered by date", []threadMsg{
			tm(1, "b@x", "<gone@x>", "one", 9),
			tm(2, "c@x", "<gone@x>", "two", 1),
			tm(3, "z@x", "", "zzz", 5),
		}, "((2)(1))(3)"},
		{"loop in References", []threadMsg{
			tm(1, "a@x", "<b@x>", "one", 0),
			tm(2, "b@x", "<a@x>", "two", 1),
		}, "(2 1)"},
		{"loop through three", []threadMsg{
			tm(1, "a@x", "<c@x> <b@x>", "one", 0),
			tm(2, "b@x", "<a@x> <c@x>", "two", 1),
			tm(3, "c@x", "<b@x> <a@x>", "three", 2),
		}, "(3 2 1)"},
		{"own id in References", []threadMsg{
			tm(1, "a@x", "<a@x>", "one", 0),
			tm(2, "b@x", "<a@x> <b@x>", "two", 1),
		}, "(1)(2)"},
		{"duplicate Message-ID: the first owns it", []threadMsg{
			tm(1, "a@x", "", "one", 0),
			tm(2, "a@x", "", "two", 1),
			tm(3, "c@x", "<a@x>", "three", 2),
		}, "(1 3)(2)"},
		{"no Message-ID", []threadMsg{
			tm(1, "", "", "one", 0),
			tm(2, "", "", "two", 1),
		}, "(1)(2)"},
		{"own References win over a link made by another", []threadMsg{
			tm(1, "a@x", "", "A", 0),
			tm(2, "b@x", "", "B", 1),
			tm(3, "d@x", "<a@x> <c@x>", "D", 3),
			tm(4, "c@x", "<b@x>", "C", 2),
		}, "(1)(2 4 3)"},
		{"without references the link made by another goes", []threadMsg{
			tm(1, "a@x", "", "A", 0),
			tm(2, "d@x", "<a@x> <c@x>", "D", 3),
			tm(3, "c@x", "", "C", 2),
		}, "(1)(3 2)"},
		{"a reply by subject goes under the original", []threadMsg{
			tm(1, "a@x", "", "Hello", 0),
			tm(2, "b@x", "", "Re: hello", 1),
		}, "(1 2)"},
		{"two originals with one subject get a dummy", []threadMsg{
			tm(1, "a@x", "", "Hello", 0),
			tm(2, "b@x", "", "hello", 1),
		}, "((1)(2))"},
		{"two replies with one subject get a dummy", []threadMsg{
			tm(1, "a@x", "", "Re: Hello", 0),
			tm(2, "b@x", "", "Fwd: Hello", 1),
		}, "((1)(2))"},
		{"the original is the table message even when later", []threadMsg{
			tm(1, "a@x", "", "Re: Hello", 0),
			tm(2, "b@x", "", "Hello", 1),
		}, "(2 1)"},
		{"a message joins a dummy with its subject", []threadMsg{
			tm(1, "b@x", "<gone@x>", "Topic", 0),
			tm(2, "c@x", "<gone@x>", "Re: Topic", 1),
			tm(3, "d@x", "", "Topic", 2),
		}, "((1)(2)(3))"},
		{"two dummies with one subject merge", []threadMsg{
			tm(1, "b@x", "<gone1@x>", "Topic", 0),
			tm(2, "c@x", "<gone1@x>", "Re: Topic", 3),
			tm(3, "d@x", "<gone2@x>", "Re: Topic", 1),
			tm(4, "e@x", "<gone2@x>", "Re: Topic", 2),
		}, "((1)(3)(4)(2))"},
		{"empty subjects are not merged", []threadMsg{
			tm(1, "a@x", "", "", 0),
			tm(2, "b@x", "", "Re:", 1),
		}, "(1)(2)"},
		{"replies in a thread are not merged again", []threadMsg{
			tm(1, "a@x", "", "Hello", 0),
			tm(2, "b@x", "<a@x>", "Re: Hello", 1),
			tm(3, "c@x", "", "Other", 2),
		}, "(1 2)(3)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := threadReferences(ctx, tc.msgs)
			must(t, err)
			if got := threadString(ts); got != tc.want {
				t.Errorf("got %s want %s", got, tc.want)
			}
		})
	}
}

func TestThreadOrderedSubject(t *testing.T) {
	msgs := []threadMsg{
		tm(1, "", "", "Beta", 5),
		tm(2, "", "", "Re: alpha", 3),
		tm(3, "", "", "Alpha", 1),
		tm(4, "", "", "alpha (fwd)", 2),
		tm(5, "", "", "Gamma", 0),
		tm(6, "", "", "[fwd: beta]", 5),
	}
	// Alpha: 3 (1), 4 (2), 2 (3); Beta: 1 and 6 at 5, sequence order;
	// Gamma: 5 (0). Threads by their first message's date.
	if got, want := threadString(threadOrderedSubject(msgs)), "(5)(3 (4)(2))(1 6)"; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if got := threadOrderedSubject(nil); len(got) != 0 {
		t.Fatalf("no messages: %v", got)
	}
}

func TestMsgIDs(t *testing.T) {
	got := msgIDs(` <a@x> (comment <no>) <b@x>junk<> < c@x > <d@x`)
	if fmt.Sprint(got) != "[a@x no b@x]" {
		t.Fatalf("msgIDs = %q", got)
	}
	long := strings.Repeat("<r@x> ", maxRefs+5) + "<last@x>"
	refs := threadRefs(long, "")
	if len(refs) != maxRefs || refs[len(refs)-1] != "last@x" {
		t.Fatalf("%d refs, last %q", len(refs), refs[len(refs)-1])
	}
}

// Threads through the engine: headers read from stored messages, dummies
// for messages outside the search results.
func TestEngineSortAndThread(t *testing.T) {
	e, a := newEngine(t)
	inbox := inboxOf(t, e, a.ID)
	put := func(hdr string, size int, arrival int) Item {
		t.Helper()
		body := hdr + "\r\n" + strings.Repeat("x", size) + "\r\n"
		it, err := e.Append(ctx, a.ID, inbox.ID, []byte(body), nil, time.Date(2025, 3, 1, arrival, 0, 0, 0, time.UTC))
		must(t, err)
		return it
	}
	m1 := put("From: Zed <zed@example.org>\r\nTo: bob@example.org\r\nCc: \"Ann\" <ann@example.org>\r\nSubject: Re: Plans\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\nMessage-ID: <m1@x>\r\n", 10, 3)
	m2 := put("From: alice@example.org\r\nTo: \"Ärger\" <zoe@example.org>\r\nSubject: plans\r\nDate: Mon, 3 Mar 2025 09:00:00 +0100\r\nMessage-ID: <m2@x>\r\n", 300, 1)
	m3 := put("From: =?UTF-8?Q?=C3=89mile?= <emile@example.org>\r\nTo: carl@example.org\r\nSubject: Agenda\r\nMessage-ID: <m3@x>\r\nReferences: <m2@x>\r\n", 50, 2)
	m4 := put("From: bob@example.org\r\nSubject: [list] Agenda (fwd)\r\nDate: bogus\r\nMessage-ID: <m4@x>\r\nIn-Reply-To: <m3@x>\r\n", 80, 0)
	cases := []struct {
		keys []SortKey
		want []uint64
	}{
		{[]SortKey{{Field: SortArrival}}, []uint64{m4.ID, m2.ID, m3.ID, m1.ID}},
		{[]SortKey{{Field: SortArrival, Reverse: true}}, []uint64{m1.ID, m3.ID, m2.ID, m4.ID}},
		// m2 was sent 08:00 UTC, m1 10:00; m3 and m4 have no usable
		// Date and sort on their arrival (02:00, 00:00).
		{[]SortKey{{Field: SortDate}}, []uint64{m4.ID, m3.ID, m2.ID, m1.ID}},
		{[]SortKey{{Field: SortSize}}, []uint64{m1.ID, m3.ID, m4.ID, m2.ID}},
		{[]SortKey{{Field: SortSize, Reverse: true}}, []uint64{m2.ID, m4.ID, m3.ID, m1.ID}},
		{[]SortKey{{Field: SortSubject}}, []uint64{m3.ID, m4.ID, m1.ID, m2.ID}},
		{[]SortKey{{Field: SortSubject}, {Field: SortArrival, Reverse: true}}, []uint64{m3.ID, m4.ID, m1.ID, m2.ID}},
		{[]SortKey{{Field: SortSubject}, {Field: SortSize, Reverse: true}}, []uint64{m4.ID, m3.ID, m2.ID, m1.ID}},
		{[]SortKey{{Field: SortFrom}}, []uint64{m2.ID, m4.ID, m3.ID, m1.ID}},
		{[]SortKey{{Field: SortTo}}, []uint64{m4.ID, m1.ID, m3.ID, m2.ID}},
		{[]SortKey{{Field: SortCc}, {Field: SortSize}}, []uint64{m3.ID, m4.ID, m2.ID, m1.ID}},
		{[]SortKey{{Field: SortDisplayFrom}}, []uint64{m2.ID, m4.ID, m3.ID, m1.ID}},
		{[]SortKey{{Field: SortDisplayTo}}, []uint64{m4.ID, m2.ID, m1.ID, m3.ID}},
	}
	items, err := e.ListItems(ctx, a.ID, inbox.ID)
	must(t, err)
	for _, tc := range cases {
		got, err := e.Sort(ctx, a.ID, inbox.ID, tc.keys, nil)
		must(t, err)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("sort %+v: got %v want %v", tc.keys, got, tc.want)
		}
		in, err := SortIn(ctx, items, engineReader{e}, tc.keys, nil)
		must(t, err)
		if fmt.Sprint(in) != fmt.Sprint(tc.want) {
			t.Errorf("SortIn %+v: got %v want %v", tc.keys, in, tc.want)
		}
	}
	// Sorting a search result.
	got, err := e.Sort(ctx, a.ID, inbox.ID, []SortKey{{Field: SortSize}}, &SearchCriteria{Larger: 300})
	must(t, err)
	if fmt.Sprint(got) != fmt.Sprint([]uint64{m2.ID}) {
		t.Errorf("sort of LARGER 300: %v", got)
	}
	_, err = e.Sort(ctx, a.ID, inbox.ID, nil, nil)
	wantErr(t, err, ErrInvalid)
	_, err = e.Sort(ctx, a.ID, inbox.ID, []SortKey{{Field: 99}}, nil)
	wantErr(t, err, ErrInvalid)

	ids := map[uint64]uint64{m1.ID: 1, m2.ID: 2, m3.ID: 3, m4.ID: 4}
	render := func(ts []*Thread) string {
		var rename func([]*Thread) []*Thread
		rename = func(ts []*Thread) []*Thread {
			var out []*Thread
			for _, t := range ts {
				out = append(out, &Thread{Item: ids[t.Item], Children: rename(t.Children)})
			}
			return out
		}
		return threadString(rename(ts))
	}
	th, err := e.Thread(ctx, a.ID, inbox.ID, ThreadReferences, nil)
	must(t, err)
	// m3 refers to m2, m4 to m3; m1 ("Re: Plans") joins m2 ("plans")
	// by subject. Thread dates: m4 arrived 00:00 (bogus Date).
	if got, want := render(th), "(2 (3 4)(1))"; got != want {
		t.Errorf("REFERENCES: %s want %s", got, want)
	}
	th, err = ThreadIn(ctx, items, engineReader{e}, ThreadReferences, nil)
	must(t, err)
	if got, want := render(th), "(2 (3 4)(1))"; got != want {
		t.Errorf("ThreadIn REFERENCES: %s want %s", got, want)
	}
	// Without m2 in the results, m3's reference to it is a dummy
	// that is pruned: m3 is a root.
	th, err = e.Thread(ctx, a.ID, inbox.ID, ThreadReferences, &SearchCriteria{Not: []SearchCriteria{{UIDs: []UIDRange{{2, 2}}}}})
	must(t, err)
	if got, want := render(th), "(3 4)(1)"; got != want {
		t.Errorf("REFERENCES without m2: %s want %s", got, want)
	}
	th, err = e.Thread(ctx, a.ID, inbox.ID, ThreadOrderedSubject, nil)
	must(t, err)
	// Agenda: m4 (00:00), m3 (02:00); Plans: m2 (08:00), m1 (10:00).
	if got, want := render(th), "(4 3)(2 1)"; got != want {
		t.Errorf("ORDEREDSUBJECT: %s want %s", got, want)
	}
	_, err = e.Thread(ctx, a.ID, inbox.ID, "X", nil)
	wantErr(t, err, ErrInvalid)
}

// A long discussion: every message refers to the up to maxRefs messages
// before it, as a deep reply chain does.
func BenchmarkThreadReferencesChain(b *testing.B) {
	const n = 10000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("<%d@x>", i)
	}
	msgs := make([]threadMsg, n)
	for i := range msgs {
		refs := strings.Join(ids[max(0, i-maxRefs):i], " ")
		msgs[i] = tm(uint64(i+1), ids[i][1:len(ids[i])-1], refs, "Re: long", i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts, err := threadReferences(ctx, msgs)
		if err != nil || len(ts) != 1 {
			b.Fatal(err, len(ts))
		}
	}
}

// A stray '<' in the text between ids does not swallow the id after it.
func TestMsgIDsStray(t *testing.T) {
	got := msgIDs(`<20020730112811.A32231@wanadoo.fr>    <"from <20020730110032.A19970@fiachra.ucd.ie>`)
	if fmt.Sprint(got) != "[20020730112811.A32231@wanadoo.fr 20020730110032.A19970@fiachra.ucd.ie]" {
		t.Fatalf("msgIDs = %q", got)
	}
}
