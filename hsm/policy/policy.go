package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Default is the policy in force when none is set.
var Default = []string{"message,document:before:-30day"}

// Item types a line can name.
var itemTypes = []string{"message", "document", "contact", "appointment", "task"}

// Limits bound what Parse accepts (every input is hostile until checked).
const (
	MaxLines    = 100
	MaxLineLen  = 1000
	MaxTerms    = 20
	maxRelative = 10_000_000 // of any unit: ten million minutes is 19 years
)

// Policy is a parsed policy.
type Policy struct {
	Lines []Line
}

// Line is one parsed line.
type Line struct {
	Types []string // sorted, unique
	Terms []Term
}

// Kind of term.
type Kind string

// Kinds of term.
const (
	Before     Kind = "before"
	After      Kind = "after"
	In         Kind = "in"
	Attachment Kind = "has"
	Larger     Kind = "larger"
	Smaller    Kind = "smaller"
	Is         Kind = "is"
)

// Term is one condition.
type Term struct {
	Kind Kind
	// When: a relative age (Unit and N) or an absolute time (At).
	Unit string // minute, hour, day, week, month; "" for At
	N    int
	At   time.Time
	// Folder of in:, Value of is: (read, unread, flagged, unflagged).
	Folder string
	Value  string
	Size   int64 // bytes, for larger: and smaller:
}

// Error is a parse error with its place: line and column count from 1,
// in bytes.
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	return fmt.Sprintf("policy line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// Parse parses policy lines. Empty lines and lines starting with '#' are
// skipped. A policy with no line is an error.
func Parse(lines []string) (*Policy, error) {
	if len(lines) > MaxLines {
		return nil, &Error{Line: MaxLines + 1, Col: 1, Msg: fmt.Sprintf("more than %d lines", MaxLines)}
	}
	p := &Policy{}
	for i, text := range lines {
		t := strings.TrimSpace(text)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		l, err := parseLine(text)
		if err != nil {
			err.Line = i + 1
			return nil, err
		}
		p.Lines = append(p.Lines, l)
	}
	if len(p.Lines) == 0 {
		return nil, &Error{Line: 1, Col: 1, Msg: "the policy has no line"}
	}
	return p, nil
}

func parseLine(s string) (Line, *Error) {
	var l Line
	if len(s) > MaxLineLen {
		return l, &Error{Col: MaxLineLen + 1, Msg: fmt.Sprintf("line longer than %d bytes", MaxLineLen)}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return l, &Error{Col: i + 1, Msg: "control character"}
		}
	}
	lead := len(s) - len(strings.TrimLeft(s, " \t"))
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return l, &Error{Col: lead + 1, Msg: `want "types:query" (e.g. message:before:-30day)`}
	}
	col := lead + 1
	for _, t := range strings.Split(s[lead:colon], ",") {
		name := strings.ToLower(strings.TrimSpace(t))
		if !slices.Contains(itemTypes, name) {
			return l, &Error{Col: col, Msg: fmt.Sprintf("unknown item type %q (want %s)", strings.TrimSpace(t), strings.Join(itemTypes, ", "))}
		}
		if !slices.Contains(l.Types, name) {
			l.Types = append(l.Types, name)
		}
		col += len(t) + 1
	}
	slices.Sort(l.Types)
	q := s[colon+1:]
	base := colon + 1
	for i := 0; i < len(q); {
		if q[i] == ' ' || q[i] == '\t' {
			i++
			continue
		}
		start := i
		for i < len(q) && q[i] != ' ' && q[i] != '\t' {
			if q[i] == '"' {
				end := strings.IndexByte(q[i+1:], '"')
				if end < 0 {
					return l, &Error{Col: base + i + 1, Msg: "unclosed quote"}
				}
				i += end + 2
				continue
			}
			i++
		}
		if len(l.Terms) == MaxTerms {
			return l, &Error{Col: base + start + 1, Msg: fmt.Sprintf("more than %d terms", MaxTerms)}
		}
		t, msg, off := parseTerm(q[start:i])
		if msg != "" {
			return l, &Error{Col: base + start + off + 1, Msg: msg}
		}
		l.Terms = append(l.Terms, t)
	}
	if len(l.Terms) == 0 {
		return l, &Error{Col: base + 1, Msg: "no term after the types (e.g. before:-30day)"}
	}
	return l, nil
}

// parseTerm parses one term; on error it returns the message and the
// offset of the fault within the term.
func parseTerm(s string) (Term, string, int) {
	k, v, ok := strings.Cut(s, ":")
	if !ok {
		return Term{}, fmt.Sprintf("term %q: want NAME:VALUE", s), 0
	}
	vo := len(k) + 1
	if v == "" {
		return Term{}, fmt.Sprintf("term %s: has no value", k), vo
	}
	switch Kind(strings.ToLower(k)) {
	case Before, After:
		t := Term{Kind: Kind(strings.ToLower(k))}
		if err := parseWhen(v, &t); err != "" {
			return Term{}, err, vo
		}
		return t, "", 0
	case In:
		f := v
		if strings.HasPrefix(f, `"`) {
			if len(f) < 2 || !strings.HasSuffix(f, `"`) || strings.Count(f, `"`) != 2 {
				return Term{}, "in: a quoted folder is one \"...\" and nothing after it", vo
			}
			f = f[1 : len(f)-1]
		} else if strings.Contains(f, `"`) {
			return Term{}, "in: a quote inside a folder name", vo
		}
		f = strings.Trim(f, "/")
		if f == "" {
			return Term{}, "in: empty folder name", vo
		}
		return Term{Kind: In, Folder: f}, "", 0
	case Attachment:
		if strings.ToLower(v) != "attachment" {
			return Term{}, fmt.Sprintf("has:%s: only has:attachment is known", v), vo
		}
		return Term{Kind: Attachment, Value: "attachment"}, "", 0
	case Larger, Smaller:
		n, err := parseSize(v)
		if err != "" {
			return Term{}, err, vo
		}
		return Term{Kind: Kind(strings.ToLower(k)), Size: n}, "", 0
	case Is:
		switch x := strings.ToLower(v); x {
		case "read", "unread", "flagged", "unflagged":
			return Term{Kind: Is, Value: x}, "", 0
		}
		return Term{}, fmt.Sprintf("is:%s: want read, unread, flagged or unflagged", v), vo
	}
	return Term{}, fmt.Sprintf("unknown term %q (want before, after, in, has, larger, smaller or is)", k+":"), 0
}

var units = map[string]string{
	"minute": "minute", "minutes": "minute", "hour": "hour", "hours": "hour",
	"day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month", "months": "month",
}

func parseWhen(v string, t *Term) string {
	if strings.HasPrefix(v, "-") {
		i := 1
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		n, err := strconv.Atoi(v[1:i])
		if i == 1 || err != nil {
			return fmt.Sprintf("%s: want -N followed by minute, hour, day, week or month", v)
		}
		u, ok := units[strings.ToLower(v[i:])]
		if !ok {
			return fmt.Sprintf("%s: unit %q is not minute, hour, day, week or month", v, v[i:])
		}
		if n > maxRelative {
			return fmt.Sprintf("%s: more than %d", v, maxRelative)
		}
		t.Unit, t.N = u, n
		return ""
	}
	at, err := time.Parse("2006-01-02", v)
	if err != nil {
		return fmt.Sprintf("%s: want -N<unit> (e.g. -30day) or a date YYYY-MM-DD", v)
	}
	t.At = at
	return ""
}

func parseSize(v string) (int64, string) {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == 0 || i > 15 {
		return 0, fmt.Sprintf("%s: want a number of bytes with an optional unit B, KB, MB or GB", v)
	}
	n, _ := strconv.ParseInt(v[:i], 10, 64)
	mult := map[string]int64{"": 1, "b": 1, "kb": 1 << 10, "k": 1 << 10, "mb": 1 << 20, "m": 1 << 20, "gb": 1 << 30, "g": 1 << 30}
	m, ok := mult[strings.ToLower(v[i:])]
	if !ok {
		return 0, fmt.Sprintf("%s: unit %q is not B, KB, MB or GB", v, v[i:])
	}
	return n * m, ""
}

// Lines renders the policy in its canonical form; parsing it gives the
// same policy.
func (p *Policy) Strings() []string {
	out := make([]string, len(p.Lines))
	for i, l := range p.Lines {
		out[i] = l.String()
	}
	return out
}

func (l Line) String() string {
	var b strings.Builder
	b.WriteString(strings.Join(l.Types, ","))
	b.WriteByte(':')
	for i, t := range l.Terms {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.String())
	}
	return b.String()
}

func (t Term) String() string {
	switch t.Kind {
	case Before, After:
		if t.Unit != "" {
			return fmt.Sprintf("%s:-%d%s", t.Kind, t.N, t.Unit)
		}
		return fmt.Sprintf("%s:%s", t.Kind, t.At.Format("2006-01-02"))
	case In:
		if strings.ContainsAny(t.Folder, " \t") {
			return `in:"` + t.Folder + `"`
		}
		return "in:" + t.Folder
	case Attachment:
		return "has:attachment"
	case Larger, Smaller:
		return fmt.Sprintf("%s:%d", t.Kind, t.Size)
	case Is:
		return "is:" + t.Value
	}
	return string(t.Kind)
}
