package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

func TestParseAndMatch(t *testing.T) {
	old := Item{Type: "message", Folder: "INBOX", Date: now.AddDate(0, 0, -31), Size: 2000}
	young := Item{Type: "message", Folder: "INBOX", Date: now.AddDate(0, 0, -29), Size: 2000}
	recent := Item{Type: "message", Folder: "INBOX", Date: now.AddDate(0, 0, -20), Size: 2000}
	junk8 := Item{Type: "message", Folder: "Junk", Date: now.AddDate(0, 0, -8), Size: 10}
	big := Item{Type: "message", Folder: "Work/2025", Date: now, Size: 2 << 20, HasAttachment: func() bool { return true }}
	bigNoAtt := Item{Type: "message", Folder: "Work/2025", Date: now, Size: 2 << 20}
	doc := Item{Type: "document", Folder: "Briefcase", Date: now.AddDate(0, -2, 0)}
	seenFlag := Item{Type: "message", Folder: "inbox/sub", Date: now, Flags: []string{`\Seen`, `\Flagged`}}
	cases := []struct {
		lines []string
		match []Item
		miss  []Item
	}{
		{Default, []Item{old, doc}, []Item{young, junk8, big}},
		{[]string{"message:before:-30day"}, []Item{old}, []Item{young, doc}},
		{[]string{"message:in:Junk before:-7day"}, []Item{junk8}, []Item{old, young}},
		{[]string{"message:larger:1MB has:attachment"}, []Item{big}, []Item{bigNoAtt, old}},
		{[]string{"message:smaller:100"}, []Item{junk8}, []Item{old}},
		{[]string{"message:after:-1hour"}, []Item{big, seenFlag}, []Item{old}},
		{[]string{"message:before:2026-01-01"}, nil, []Item{old, young}},
		{[]string{"message:after:2026-01-01 before:-4weeks"}, []Item{old, young}, []Item{recent}},
		{[]string{"message:is:read in:INBOX/sub"}, []Item{seenFlag}, []Item{old}},
		{[]string{"message:is:unread"}, []Item{old}, []Item{seenFlag}},
		{[]string{"message:is:flagged"}, []Item{seenFlag}, []Item{old}},
		{[]string{"message:is:unflagged in:inbox"}, []Item{old}, []Item{seenFlag, junk8}},
		{[]string{"message:before:-1month"}, []Item{old, young}, []Item{recent}},
		{[]string{"message:before:-43200minutes"}, []Item{old}, []Item{young}},
		{[]string{"# comment", "", "message:in:Junk", "document:before:-1day"}, []Item{junk8, doc}, []Item{old}},
		{[]string{`message:in:"Work/2025"`}, []Item{big}, []Item{old}},
		{[]string{"contact,task:before:-1day"}, nil, []Item{old, doc}},
	}
	for _, c := range cases {
		p, err := Parse(c.lines)
		if err != nil {
			t.Fatalf("%q: %v", c.lines, err)
		}
		for _, it := range c.match {
			if !p.Match(it, now) {
				t.Errorf("%q does not select %+v", c.lines, it)
			}
		}
		for _, it := range c.miss {
			if p.Match(it, now) {
				t.Errorf("%q selects %+v", c.lines, it)
			}
		}
		again, err := Parse(p.Strings())
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Errorf("%q: canonical form %q does not parse back: %v", c.lines, p.Strings(), err)
		}
	}
}

func TestAttachmentAskedLast(t *testing.T) {
	p, err := Parse([]string{"message:has:attachment before:-30day"})
	if err != nil {
		t.Fatal(err)
	}
	asked := 0
	it := Item{Type: "message", Date: now, HasAttachment: func() bool { asked++; return true }}
	if p.Match(it, now) || asked != 0 {
		t.Fatalf("a young message was parsed for attachments (%d)", asked)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		lines     []string
		line, col int
		want      string
	}{
		{[]string{"message"}, 1, 1, "types:query"},
		{[]string{"mail:before:-1day"}, 1, 1, "unknown item type"},
		{[]string{"message,bogus:before:-1day"}, 1, 9, "unknown item type"},
		{[]string{"message:"}, 1, 9, "no term"},
		{[]string{"message:before:-30days", "message:frob:1"}, 2, 9, "unknown term"},
		{[]string{"message:before:-30fortnight"}, 1, 16, "unit"},
		{[]string{"message:before:yesterday"}, 1, 16, "YYYY-MM-DD"},
		{[]string{"message:before:"}, 1, 16, "no value"},
		{[]string{"message:in:Junk larger:lots"}, 1, 24, "number"},
		{[]string{"message:larger:5TB"}, 1, 16, "unit"},
		{[]string{"message:is:sticky"}, 1, 12, "read, unread"},
		{[]string{"message:has:picture"}, 1, 13, "has:attachment"},
		{[]string{`message:in:"Old Mail`}, 1, 12, "unclosed quote"},
		{[]string{"message:before:-1day plain"}, 1, 22, "NAME:VALUE"},
		{[]string{"  message:in:a\x01"}, 1, 15, "control"},
		{nil, 1, 1, "no line"},
		{[]string{"message:before:-99999999day"}, 1, 16, "more than"},
		{[]string{"message:before:-999999999999999999999day"}, 1, 16, "want -N"},
		{[]string{"message:" + strings.Repeat("is:read ", 21)}, 1, 9 + 20*8, "more than 20 terms"},
	}
	for _, c := range cases {
		_, err := Parse(c.lines)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("%q: error %v is not a *Error", c.lines, err)
		}
		if pe.Line != c.line || pe.Col != c.col || !strings.Contains(pe.Msg, c.want) {
			t.Errorf("%q: got line %d col %d %q, want line %d col %d containing %q", c.lines, pe.Line, pe.Col, pe.Msg, c.line, c.col, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"message:before:-30day", "message:in:Junk before:-7day", "message:larger:1MB has:attachment",
		`document,message:in:"Old Mail" is:read after:2025-01-01`, "x", ":", "message:in:\"", "message:before:-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines := strings.Split(s, "\n")
		p, err := Parse(lines)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Line < 1 || pe.Col < 1 {
				t.Fatalf("%q: error without a place: %v", s, err)
			}
			if pe.Line <= len(lines) && pe.Col > len(lines[pe.Line-1])+1 && len(lines[pe.Line-1]) <= MaxLineLen {
				t.Fatalf("%q: column %d past the end of line %d", s, pe.Col, pe.Line)
			}
			return
		}
		again, err := Parse(p.Strings())
		if err != nil {
			t.Fatalf("%q: canonical %q does not parse: %v", s, p.Strings(), err)
		}
		if !reflect.DeepEqual(again, p) {
			t.Fatalf("%q: canonical %q parses to another policy", s, p.Strings())
		}
		p.Match(Item{Type: "message", Folder: "INBOX", Date: now, Size: 1, HasAttachment: func() bool { return true }}, now)
	})
}
