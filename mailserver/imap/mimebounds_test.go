package imap

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// nestedRFC822 is the hostile message of the report: levels
// message/rfc822 parts, each enclosing the next (32 bytes a level).
func nestedRFC822(levels int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nSubject: nested\r\n")
	for i := 0; i < levels; i++ {
		b.WriteString("Content-Type: message/rfc822\r\n\r\n")
	}
	b.WriteString("Subject: bottom\r\n\r\nbottom\r\n")
	return b.Bytes()
}

func structureDepth(bs imap.BodyStructure) int {
	switch p := bs.(type) {
	case *imap.BodyStructureMultiPart:
		d := 0
		for _, c := range p.Children {
			d = max(d, structureDepth(c))
		}
		return d + 1
	case *imap.BodyStructureSinglePart:
		if p.MessageRFC822 != nil && p.MessageRFC822.BodyStructure != nil {
			return structureDepth(p.MessageRFC822.BodyStructure) + 1
		}
	}
	return 1
}

// TestNestedMessageFetch: a 640 KB message of 20,000 nested
// message/rfc822 parts used to make FETCH BODYSTRUCTURE allocate
// gigabytes and kill the server. Its structure is now cut at the depth
// limit and the fetch allocates a bounded amount; the message still
// fetches byte for byte and deep sections answer.
func TestNestedMessageFetch(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	msg := nestedRFC822(20000)
	appendMsg(t, c, "INBOX", msg, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	deep := make([]int, 3000) // BODY[1.1.1....]: one step a number, not a reader a level
	for i := range deep {
		deep[i] = 1
	}
	deepSec := &imap.FetchItemBodySection{Part: deep, Peek: true}
	whole := &imap.FetchItemBodySection{Peek: true}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		UID: true, Envelope: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection:   []*imap.FetchItemBodySection{deepSec, whole},
		BinarySection: []*imap.FetchItemBinarySection{{Part: []int{1, 1, 1}, Peek: true}},
	}).Collect()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("FETCH of a %d-byte message nested 20,000 deep: %d bytes allocated (client and server)", len(msg), alloc)
	if alloc > 64<<20 {
		t.Errorf("FETCH allocated %d MiB, want < 64 MiB", alloc>>20)
	}
	m := msgs[0]
	if d := structureDepth(m.BodyStructure); d < 50 || d > 110 {
		t.Errorf("BODYSTRUCTURE depth %d, want the limit (about 100)", d)
	}
	if !bytes.Equal(m.FindBodySection(whole), msg) {
		t.Errorf("BODY[] differs from the message")
	}
	// Below the limit the rest is one opaque part, its own part 1.
	if got := m.FindBodySection(deepSec); len(got) == 0 || !bytes.HasSuffix(msg, got) || len(got) > len(msg)-100*32 {
		t.Errorf("BODY[1.1...1] (3000 levels) returned %d bytes, want the opaque rest below the limit", len(got))
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("session lost: %v", err)
	}
}

// TestDeepMultipartFetch does the same for nested multiparts and checks
// the deepest opened part is an opaque leaf holding the rest.
func TestDeepMultipartFetch(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	var b bytes.Buffer
	b.WriteString("Subject: deep\r\n")
	const levels = 5000
	for i := 0; i < levels; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%06d\r\n\r\n--b%06d\r\n", i, i)
	}
	b.WriteString("\r\nbottom\r\n")
	for i := levels - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%06d--\r\n", i)
	}
	msg := b.Bytes()
	appendMsg(t, c, "INBOX", msg, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}).Collect()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("FETCH BODYSTRUCTURE allocated %d MiB, want < 64 MiB", alloc>>20)
	}
	bs := msgs[0].BodyStructure
	for {
		mp, ok := bs.(*imap.BodyStructureMultiPart)
		if !ok {
			break
		}
		bs = mp.Children[0]
	}
	leaf := bs.(*imap.BodyStructureSinglePart)
	if !strings.EqualFold(leaf.MediaType(), "application/octet-stream") || leaf.Size == 0 {
		t.Errorf("deepest part %s of %d bytes, want an opaque application/octet-stream part", leaf.MediaType(), leaf.Size)
	}
}

// TestSectionsRFC3501 checks part numbering and MIME/HEADER/TEXT of an
// enclosed message against RFC 3501 section 6.4.5's example shape.
func TestSectionsRFC3501(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	msg := []byte("Subject: top\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n" +
		"--o\r\nContent-Type: text/plain\r\n\r\none\r\n" +
		"--o\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n" +
		"--i\r\n\r\nalt1\r\n--i\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<b>=3D</b>\r\n--i--\r\n" +
		"--o\r\nContent-Type: application/x-thing\r\nContent-Transfer-Encoding: x-unknown\r\n\r\nzzz\r\n" +
		"--o--\r\n")
	appendMsg(t, c, "INBOX", msg, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	secs := map[string]*imap.FetchItemBodySection{
		"one":                              {Part: []int{1}, Peek: true},
		"Content-Type: text/plain\r\n\r\n": {Part: []int{1}, Specifier: imap.PartSpecifierMIME, Peek: true},
		"Subject: inner\r\n\r\n":           {Part: []int{2}, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"subject"}, Peek: true},
		"alt1":                             {Part: []int{2, 1}, Peek: true},
		"<b>=3D</b>":                       {Part: []int{2, 2}, Peek: true},
	}
	var list []*imap.FetchItemBodySection
	for _, s := range secs {
		list = append(list, s)
	}
	qp := &imap.FetchItemBinarySection{Part: []int{2, 2}, Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		BodySection: list, BinarySection: []*imap.FetchItemBinarySection{qp},
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for want, s := range secs {
		if got := string(msgs[0].FindBodySection(s)); got != want {
			t.Errorf("BODY[%v %s] = %q, want %q", s.Part, s.Specifier, got, want)
		}
	}
	if got := string(msgs[0].FindBinarySection(qp)); got != "<b>=</b>" {
		t.Errorf("BINARY[2.2] = %q", got)
	}
	mp := msgs[0].BodyStructure.(*imap.BodyStructureMultiPart)
	inner := mp.Children[1].(*imap.BodyStructureSinglePart)
	if inner.MessageRFC822 == nil || inner.MessageRFC822.Envelope.Subject != "inner" {
		t.Errorf("part 2 = %+v", inner)
	}
	// RFC 3516: a transfer encoding the server cannot undo is NO [UNKNOWN-CTE].
	_, err = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BinarySection: []*imap.FetchItemBinarySection{{Part: []int{3}, Peek: true}}}).Collect()
	wantCode(t, "BINARY[3] with x-unknown", err, imap.ResponseCodeUnknownCTE)
}
