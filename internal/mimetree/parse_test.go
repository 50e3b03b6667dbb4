package mimetree

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func TestMultipartOffsets(t *testing.T) {
	raw := crlf(`Subject: x
Content-Type: multipart/mixed; boundary="b1"

preamble
--b1
Content-Type: text/plain; charset=utf-8

hello
--b1
Content-Type: message/rfc822

Subject: inner
Content-Type: multipart/alternative; boundary=b2

--b2

alt one
--b2
Content-Type: text/html

<p>two</p>
--b2--
--b1
Content-Type: application/pdf
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="a b.pdf"

aGVsbG8=
--b1--
epilogue
`)
	tr := Parse(raw, Limits{})
	root := tr.Root
	if root.Type != "multipart" || root.Subtype != "mixed" || len(root.Children) != 3 {
		t.Fatalf("root %s/%s with %d children", root.Type, root.Subtype, len(root.Children))
	}
	if got := string(tr.Body(root.Children[0])); got != "hello" {
		t.Errorf("part 1 body %q", got)
	}
	if got := string(tr.Header(root.Children[0])); got != "Content-Type: text/plain; charset=utf-8\r\n\r\n" {
		t.Errorf("part 1 header %q", got)
	}
	msg := root.Children[1]
	if msg.Message == nil || !msg.Message.IsMultipart() || len(msg.Message.Children) != 2 {
		t.Fatalf("part 2 does not enclose a two-part multipart: %+v", msg)
	}
	if got := string(tr.Body(msg.Message.Children[1])); got != "<p>two</p>" {
		t.Errorf("part 2.2 body %q", got)
	}
	if msg.Message.Children[0].Type != "text" || msg.Message.Children[0].HasContentType {
		t.Errorf("part 2.1 type %s", msg.Message.Children[0].Type)
	}
	pdf := root.Children[2]
	if pdf.Encoding != "base64" || pdf.Type != "application" || pdf.Subtype != "pdf" {
		t.Errorf("part 3: %+v", pdf)
	}
	if d, params := ParseValue(pdf.Disposition); d != "attachment" || params["filename"] != "a b.pdf" {
		t.Errorf("disposition %q %v", d, params)
	}
	dec, err := Decode(tr.Body(pdf), pdf.Encoding)
	if err != nil || string(dec) != "hello" {
		t.Errorf("decoded %q, %v", dec, err)
	}
	if !bytes.HasSuffix(tr.Body(root), []byte("epilogue\r\n")) || root.End != len(raw) {
		t.Errorf("root body does not run to the end")
	}
	for _, c := range []struct {
		path []int
		want string
	}{
		{[]int{1}, "hello"},
		{[]int{2, 1}, "alt one"},
		{[]int{2, 2}, "<p>two</p>"},
		{[]int{1, 1, 1, 1}, "hello"},
	} {
		p, ok := tr.Find(c.path)
		if !ok || string(tr.Body(p)) != c.want {
			t.Errorf("Find(%v) = %v, want %q", c.path, ok, c.want)
		}
	}
	for _, path := range [][]int{{0}, {4}, {2, 3}, {1, 2}} {
		if _, ok := tr.Find(path); ok {
			t.Errorf("Find(%v) found a part", path)
		}
	}
	p, _ := tr.Find([]int{2})
	if got := string(tr.Header(p.Enclosed())); !strings.HasPrefix(got, "Subject: inner\r\n") {
		t.Errorf("2.HEADER = %q", got)
	}
}

func TestSinglePartAndHeaderOnly(t *testing.T) {
	tr := Parse([]byte("Subject: no body"), Limits{})
	if tr.Root.BodyStart != len(tr.Raw) || tr.Root.End != len(tr.Raw) {
		t.Errorf("header-only message: %+v", tr.Root)
	}
	tr = Parse([]byte("A: b\n\nbody\n"), Limits{})
	if string(tr.Body(tr.Root)) != "body\n" || tr.Lines(tr.Root.BodyStart, tr.Root.End) != 1 {
		t.Errorf("LF message body %q", tr.Body(tr.Root))
	}
	p, ok := tr.Find([]int{1})
	if !ok || p != tr.Root {
		t.Errorf("part 1 of a single-part message is not the message")
	}
}

// An outer delimiter ends an inner multipart that was never closed; a
// boundary reused by a nested multipart belongs to the inner one until it
// is closed (RFC 2046 section 5.1.2 forbids the reuse; this is how
// Dovecot reads it).
func TestUnclosedAndReusedBoundaries(t *testing.T) {
	raw := crlf(`Content-Type: multipart/mixed; boundary=o

--o
Content-Type: multipart/mixed; boundary=i

--i

inner
--o

second
--o--
`)
	tr := Parse(raw, Limits{})
	if n := len(tr.Root.Children); n != 2 {
		t.Fatalf("%d children", n)
	}
	in := tr.Root.Children[0]
	if len(in.Children) != 1 || string(tr.Body(in.Children[0])) != "inner" {
		t.Errorf("inner multipart: %d children", len(in.Children))
	}
	raw = crlf(`Content-Type: multipart/mixed; boundary=o

--o
Content-Type: multipart/mixed; boundary=o

--o

x
--o--
`)
	tr = Parse(raw, Limits{})
	if n := len(tr.Root.Children); n != 1 {
		t.Fatalf("reused boundary: %d outer children, want 1", n)
	}
	if in := tr.Root.Children[0]; len(in.Children) != 1 || string(tr.Body(in.Children[0])) != "x" {
		t.Errorf("reused boundary: inner multipart has %d children, want the one part", len(in.Children))
	}
	// Closed, the inner multipart gives the boundary back: the next
	// delimiter is the outer one's.
	raw = crlf(`Content-Type: multipart/mixed; boundary=o

--o
Content-Type: multipart/alternative; boundary=o

--o

plain
--o

html
--o--

--o

attachment
--o--
`)
	tr = Parse(raw, Limits{})
	if n := len(tr.Root.Children); n != 2 {
		t.Fatalf("reused boundary, closed: %d outer children, want 2", n)
	}
	in = tr.Root.Children[0]
	if len(in.Children) != 2 || string(tr.Body(in.Children[1])) != "html" {
		t.Errorf("reused boundary, closed: inner multipart has %d children, want 2", len(in.Children))
	}
	if got := string(tr.Body(tr.Root.Children[1])); got != "attachment" {
		t.Errorf("reused boundary, closed: outer part 2 is %q", got)
	}
}

func TestDigestDefault(t *testing.T) {
	raw := crlf(`Content-Type: multipart/digest; boundary=d

--d

Subject: one

body
--d--
`)
	tr := Parse(raw, Limits{})
	c := tr.Root.Children[0]
	if c.Type != "message" || c.Subtype != "rfc822" || c.Message == nil {
		t.Fatalf("digest part: %s/%s", c.Type, c.Subtype)
	}
	if string(tr.Body(c.Message)) != "body" {
		t.Errorf("enclosed body %q", tr.Body(c.Message))
	}
}

// nestedMessages builds n message/rfc822 parts each enclosing the next.
func nestedMessages(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		b.WriteString("Content-Type: message/rfc822\r\n\r\n")
	}
	b.WriteString("Subject: bottom\r\n\r\nbottom\r\n")
	return b.Bytes()
}

func nestedMultiparts(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%06d\r\n\r\n--b%06d\r\n", i, i)
	}
	b.WriteString("\r\nbottom\r\n")
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%06d--\r\n", i)
	}
	return b.Bytes()
}

func depth(p *Part) int {
	d := 0
	for _, c := range p.Children {
		d = max(d, depth(c))
	}
	if p.Message != nil {
		d = max(d, depth(p.Message))
	}
	return d + 1
}

func TestDepthLimit(t *testing.T) {
	for name, raw := range map[string][]byte{"message": nestedMessages(20000), "multipart": nestedMultiparts(5000)} {
		t.Run(name, func(t *testing.T) {
			tr := Parse(raw, Limits{MaxDepth: 100})
			if d := depth(tr.Root); d > 101 {
				t.Errorf("tree depth %d beyond the limit", d)
			}
			if !tr.Truncated {
				t.Errorf("not marked truncated")
			}
			// The deepest opened part holds the rest as an opaque leaf.
			p := tr.Root
			for p.Message != nil || len(p.Children) > 0 {
				if p.Message != nil {
					p = p.Message
				} else {
					p = p.Children[0]
				}
			}
			if !p.Opaque || p.Type != "application" || p.End <= p.BodyStart {
				t.Errorf("deepest part %+v is not an opaque leaf with content", p)
			}
		})
	}
}

func TestPartsLimit(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Content-Type: multipart/mixed; boundary=x\r\n\r\n")
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&b, "--x\r\n\r\npart %d\r\n", i)
	}
	b.WriteString("--x--\r\n")
	tr := Parse(b.Bytes(), Limits{MaxParts: 100})
	if tr.Parts != 100 || len(tr.Root.Children) != 99 || !tr.Truncated {
		t.Errorf("parts %d, children %d, truncated %v", tr.Parts, len(tr.Root.Children), tr.Truncated)
	}
	if tr.Root.End != b.Len() {
		t.Errorf("root does not keep the unlisted parts in its body")
	}
}

// TestLinearCost parses the message of nested message/rfc822 parts that
// used to take gigabytes, and a deep multipart, at two sizes: memory must
// stay bounded and grow no faster than the input.
func TestLinearCost(t *testing.T) {
	measure := func(raw []byte) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		tr := Parse(raw, Limits{})
		tr.Lines(0, len(raw))
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	for name, gen := range map[string]func(int) []byte{"message": nestedMessages, "multipart": nestedMultiparts} {
		small, large := gen(10000), gen(40000)
		a, b := measure(small), measure(large)
		t.Logf("%s: %d bytes -> %d allocated; %d bytes -> %d allocated", name, len(small), a, len(large), b)
		if b > 64<<20 {
			t.Errorf("%s: %d bytes allocated for a %d-byte message", name, b, len(large))
		}
		if float64(b) > 4*float64(a)*1.5+1<<20 {
			t.Errorf("%s: allocation grows faster than the input: %d -> %d", name, a, b)
		}
	}
}

func TestParseValue(t *testing.T) {
	for _, c := range []struct {
		in, v  string
		params map[string]string
	}{
		{`text/plain; charset="utf-8"`, "text/plain", map[string]string{"charset": "utf-8"}},
		{`multipart/mixed; boundary="a;b"; x`, "multipart/mixed", map[string]string{"boundary": "a;b"}},
		{`Multipart/Mixed; boundary=abc def; charset=x`, "multipart/mixed", map[string]string{"boundary": "abc def", "charset": "x"}},
		{`attachment; filename*=utf-8''%E2%82%AC.txt`, "attachment", map[string]string{"filename": "€.txt"}},
		// RFC 2231 values in a charset mime.ParseMediaType does not
		// decode: kept as written, or under the plain name when ASCII.
		{`attachment; filename*=windows-1251''%C4%EE%EA.doc; size=10`, "attachment",
			map[string]string{"filename*": "windows-1251''%C4%EE%EA.doc", "size": "10"}},
		{`multipart/signed; boundary*="ansi-x3.4-1968''EeQf%41"; micalg=pgp-sha1`, "multipart/signed",
			map[string]string{"boundary": "EeQfA", "micalg": "pgp-sha1"}},
		{`text/plain; =x; a="q\"uote`, "text/plain", map[string]string{"a": `q"uote`}},
	} {
		v, p := ParseValue(c.in)
		if v != c.v || fmt.Sprint(p) != fmt.Sprint(c.params) {
			t.Errorf("ParseValue(%q) = %q %v, want %q %v", c.in, v, p, c.v, c.params)
		}
	}
}

func TestDecode(t *testing.T) {
	for _, c := range []struct{ in, enc, want string }{
		{"aGVs\r\nbG8=\r\n", "base64", "hello"},
		{"aGVsbG8", "base64", "hello"},
		{"a=3Db=\r\nc= \r\nd=zz=", "quoted-printable", "a=bcd=zz"},
		// RFC 2045 section 6.7 rule 3: white space ending an encoded
		// line was added in transport and is dropped; escaped white
		// space and white space before a soft break or text stays.
		{"a b \t\r\nc=20\r\nd\t=\r\ne  \nf =09 \ng  ", "quoted-printable", "a b\r\nc \r\nd\te\nf \t\ng"},
		{"raw\x00", "binary", "raw\x00"},
	} {
		got, err := Decode([]byte(c.in), c.enc)
		if err != nil || string(got) != c.want {
			t.Errorf("Decode(%q, %s) = %q, %v; want %q", c.in, c.enc, got, err, c.want)
		}
	}
	if _, err := Decode(nil, "x-uuencode"); err != ErrUnknownEncoding {
		t.Errorf("unknown encoding: %v", err)
	}
}

func TestFilterFields(t *testing.T) {
	h := []byte("Subject: a\r\n b\r\nFrom: x\r\nsubject: c\r\nbroken\r\n\r\n")
	if got := string(FilterFields(h, []string{"SUBJECT"}, true)); got != "Subject: a\r\n b\r\nsubject: c\r\n\r\n" {
		t.Errorf("HEADER.FIELDS = %q", got)
	}
	if got := string(FilterFields(h, []string{"subject"}, false)); got != "From: x\r\n\r\n" {
		t.Errorf("HEADER.FIELDS.NOT = %q", got)
	}
	// No body and no blank line: none is added (RFC 3501 section 6.4.5).
	if got := string(FilterFields([]byte("Subject: a\r\nFrom: x\r\n"), []string{"from"}, true)); got != "From: x\r\n" {
		t.Errorf("HEADER.FIELDS of a header without blank line = %q", got)
	}
}

// An empty boundary (boundary="") is outside RFC 2046's grammar, but its
// delimiter lines are "--" alone and its close delimiter "----".
func TestEmptyBoundary(t *testing.T) {
	raw := crlf(`Content-Type: multipart/mixed; boundary=""

--
Content-Type: multipart/mixed; boundary=""

--
Content-Type: text/plain

Hello world.
----
`)
	tr := Parse(raw, Limits{})
	if n := len(tr.Root.Children); n != 1 {
		t.Fatalf("%d children, want 1", n)
	}
	in := tr.Root.Children[0]
	if !in.IsMultipart() || len(in.Children) != 1 || string(tr.Body(in.Children[0])) != "Hello world." {
		t.Errorf("inner multipart: %d children", len(in.Children))
	}
}

// TestFilterFieldsShortcut checks that dropping a field at its first byte
// gives what reading every field name gives (a name starting outside ASCII
// turns the shortcut off), on odd headers and, when present, the
// malformed corpus.
func TestFilterFieldsShortcut(t *testing.T) {
	headers := [][]byte{
		[]byte("Subject: a\r\n b\r\nFrom: x\r\nsubject: c\r\nbroken\r\n\r\n"),
		[]byte(": empty name\r\n:x\r\nfrom : spaced\r\n\tcont\r\nFROM:\r\n1: digit\r\n\x01ctl: y\r\n\xc3\x9cber: z\r\n\r\nbody"),
		[]byte("subject\r\nSubject: no colon before\r\n  \r\nmessage-id: <a@b>\r\nMessage-ID : <c@d>\n\n"),
		[]byte("\rodd: cr\r\nTo: t\r\nDate: d"),
	}
	base := os.Getenv("TIDEMARK_CORPUS")
	if base == "" {
		base = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	files, _ := filepath.Glob(filepath.Join(base, "malformed", "*.eml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		headers = append(headers, b)
	}
	sets := [][]string{
		{"from", "to", "subject", "date", "message-id"},
		{"SUBJECT"},
		{"content-type", "x-none"},
		{"1", "from"},
	}
	for i, h := range headers {
		for _, names := range sets {
			got := FilterFields(h, names, true)
			want := FilterFields(h, append(names[:len(names):len(names)], "\xff\xfe-never"), true)
			if !bytes.Equal(got, want) {
				t.Fatalf("header %d, fields %v: %q, reading every name gives %q", i, names, got, want)
			}
		}
	}
}
