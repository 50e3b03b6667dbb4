package mimetree

import (
	"testing"
)

// FuzzParse checks the invariants every caller relies on: offsets lie in
// the message and nest, the limits hold, and section lookup and decoding
// never panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n"), uint8(3), uint8(10))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n"), uint8(3), uint8(10))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nx"), uint8(1), uint8(2))
	f.Add([]byte("Content-Type: multipart/digest; boundary=d\n\n--d\n\nA: b\n\n--d\n--d--"), uint8(4), uint8(3))
	f.Add(nestedMultiparts(8), uint8(5), uint8(6))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n\r\nx\r\n--o--\r\n--o\r\n\r\ny\r\n--o--\r\n"), uint8(4), uint8(10))
	f.Add([]byte("Content-Type: a/b; k*1*=%41; k*0*=utf-8'en'%C3; n*=x''%; q=\"a;b\" z=1\r\nContent-Disposition: inline; f*0=a; f*2=b\r\n\r\n"), uint8(2), uint8(2))
	f.Fuzz(func(t *testing.T, raw []byte, maxDepth, maxParts uint8) {
		lim := Limits{MaxDepth: int(maxDepth%8) + 1, MaxParts: int(maxParts%16) + 1}
		tr := Parse(raw, lim)
		n := check(t, tr, tr.Root, 0, len(raw), 0, lim)
		if n != tr.Parts || n > lim.MaxParts {
			t.Fatalf("%d parts in the tree, %d counted, limit %d", n, tr.Parts, lim.MaxParts)
		}
		if got := tr.Lines(0, len(raw)); got < 0 || got > len(raw) {
			t.Fatalf("Lines = %d", got)
		}
		for _, path := range [][]int{{1}, {1, 1}, {2, 1, 3}, {1, 2, 1, 1}} {
			if p, ok := tr.Find(path); ok {
				for _, v := range []string{p.ContentType, p.Disposition} {
					_, list := ParamList(v)
					for _, pr := range list {
						if pr.Name == "" {
							t.Fatalf("ParamList(%q): parameter without a name", v)
						}
					}
				}
				Decode(tr.Body(p), p.Encoding)
				FilterFields(tr.Header(p.Enclosed()), []string{"content-type"}, true)
			}
		}
	})
}

func check(t *testing.T, tr *Tree, p *Part, lo, hi, depth int, lim Limits) int {
	t.Helper()
	if !(lo <= p.Start && p.Start <= p.BodyStart && p.BodyStart <= p.End && p.End <= hi) {
		t.Fatalf("part [%d %d %d] outside [%d %d]", p.Start, p.BodyStart, p.End, lo, hi)
	}
	if depth > lim.MaxDepth {
		t.Fatalf("part at depth %d, limit %d", depth, lim.MaxDepth)
	}
	if p.Type == "" || p.Subtype == "" {
		t.Fatalf("part without a type")
	}
	n := 1
	prev := p.BodyStart
	for _, c := range p.Children {
		n += check(t, tr, c, prev, p.End, depth+1, lim)
		prev = c.End
	}
	if p.Message != nil {
		if p.Message.Start != p.BodyStart || p.Message.End != p.End {
			t.Fatalf("enclosed message [%d %d] is not the body [%d %d]", p.Message.Start, p.Message.End, p.BodyStart, p.End)
		}
		n += check(t, tr, p.Message, p.BodyStart, p.End, depth+1, lim)
	}
	return n
}
