package mimetree

import (
	"bytes"
	"strings"
)

// Default limits, as Dovecot's message parser uses them
// (mail_max_nested_mime_parts and mail_max_total_mime_parts: no client
// message needs more; hostile ones do).
const (
	DefaultMaxDepth = 100
	DefaultMaxParts = 10000
)

// Limits bound a parse. Zero fields take the defaults.
type Limits struct {
	// MaxDepth is the deepest container (multipart or enclosed message)
	// that is opened; the top-level message is at depth 0.
	MaxDepth int
	// MaxParts bounds the number of parts in the tree, the top-level
	// message included.
	MaxParts int
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxParts <= 0 {
		l.MaxParts = DefaultMaxParts
	}
	return l
}

// Part is one MIME entity: a header and a body, as offsets into the raw
// message. Header is raw[Start:BodyStart] (with the empty line that ends
// it, when there is one), body raw[BodyStart:End]. A part's content ends
// before the line break that precedes the next delimiter line, which
// belongs to the delimiter (RFC 2046 section 5.1.1).
type Part struct {
	Start, BodyStart, End int

	// Type and Subtype are the media type in lower case: text/plain when
	// Content-Type is absent or unparsable (message/rfc822 inside
	// multipart/digest), application/octet-stream for an opaque part.
	Type, Subtype string
	// Params are the Content-Type parameters (names in lower case).
	Params map[string]string
	// HasContentType reports whether a usable Content-Type was present.
	HasContentType bool

	// Raw values of the Content-* fields, unfolded and trimmed, as
	// written ("" when absent): ContentType whether or not it was usable,
	// Encoding in its own case (Decode reads any case).
	ContentType, Encoding, ID, Description, Disposition, Language, Location, MD5 string
	// Present tells which of ID, Description, Location and MD5 the header
	// has, so that an empty field is told from an absent one.
	Present Fields

	// Children are a multipart's parts, in order.
	Children []*Part
	// Message is the message a message/rfc822 or message/global part
	// encloses; its Start is this part's BodyStart.
	Message *Part
	// Opaque marks a multipart or enclosed message that was not opened
	// because of the limits; Type/Subtype say application/octet-stream and
	// DeclaredType what the header said.
	Opaque       bool
	DeclaredType string
}

// Fields is a set of Content-* fields.
type Fields uint8

// The fields Part.Present records.
const (
	FieldID Fields = 1 << iota
	FieldDescription
	FieldLocation
	FieldMD5
)

// IsMultipart reports whether p was parsed as a multipart.
func (p *Part) IsMultipart() bool { return p.Type == "multipart" }

// Tree is a parsed message.
type Tree struct {
	Raw  []byte
	Root *Part
	// Parts is the number of parts in the tree.
	Parts int
	// Truncated reports that a limit made some structure opaque or unlisted.
	Truncated bool

	lines []int // lines[i] counts the '\n' in Raw[:i*lineBlock]
}

// Parse parses raw. It never fails and keeps no copy: the tree refers to
// raw, which must not change while the tree is used.
func Parse(raw []byte, lim Limits) *Tree {
	p := &parser{raw: raw, lim: lim.withDefaults()}
	root, _ := p.entity(0, 0, false)
	return &Tree{Raw: raw, Root: root, Parts: p.parts, Truncated: p.truncated}
}

type parser struct {
	raw       []byte
	lim       Limits
	parts     int
	truncated bool
	// active holds the boundary of each open multipart with its level (1
	// is the outermost); a boundary reused by a nested multipart belongs
	// to the inner one until it is closed, then to the outer one again.
	active trie
	levels int
}

// stop is the line that ended an entity: a delimiter line of an open
// multipart at level lvl starting at pos, the next line starting at next;
// lvl 0 is the end of the message (pos = next = len(raw)).
type stop struct {
	pos, next, lvl int
	close          bool
}

func (p *parser) eof() stop { return stop{pos: len(p.raw), next: len(p.raw)} }

// lineEnd returns the start of the line after the one starting at i.
func (p *parser) lineEnd(i int) int {
	j := bytes.IndexByte(p.raw[i:], '\n')
	if j < 0 {
		return len(p.raw)
	}
	return i + j + 1
}

// delim reports whether the line raw[i:e] is a delimiter of an open
// multipart: "--" and a boundary, then "--" for the close delimiter.
// Whatever follows the boundary is ignored: RFC 2046 forbids the
// delimiter anywhere in content, and real mail puts text after it
// ("--b--</BODY></HTML>"). The longest open boundary that starts the line
// wins. The line is walked through a trie of the open boundaries, so it
// costs its length whatever the nesting.
func (p *parser) delim(i, e int) (lvl int, close bool) {
	if p.levels == 0 || e-i < 3 || p.raw[i] != '-' || p.raw[i+1] != '-' {
		return 0, false
	}
	s := p.raw[i+2 : e]
	lvl, n := p.active.match(s)
	if lvl == 0 {
		return 0, false
	}
	return lvl, bytes.HasPrefix(s[n:], []byte("--"))
}

// nextDelim finds the first delimiter line at or after the line start i.
// Only lines starting with "--" are candidates, found with one
// bytes.Index over the content.
func (p *parser) nextDelim(i int) stop {
	if p.levels == 0 {
		return p.eof()
	}
	for i < len(p.raw) {
		if !bytes.HasPrefix(p.raw[i:], []byte("--")) {
			j := bytes.Index(p.raw[i:], []byte("\n--"))
			if j < 0 {
				return p.eof()
			}
			i += j + 1
		}
		e := p.lineEnd(i)
		if lvl, cl := p.delim(i, e); lvl > 0 {
			return stop{pos: i, next: e, lvl: lvl, close: cl}
		}
		i = e
	}
	return p.eof()
}

// contentEnd is where content that runs up to the stop line ends: before
// the line break preceding it, never before from.
func (p *parser) contentEnd(from int, st stop) int {
	if st.lvl == 0 {
		return len(p.raw)
	}
	e := st.pos
	if e > from && p.raw[e-1] == '\n' {
		e--
		if e > from && p.raw[e-1] == '\r' {
			e--
		}
	}
	return max(e, from)
}

// entity parses the entity starting at start, depth containers deep;
// inDigest makes message/rfc822 the default type (RFC 2046 5.1.5).
func (p *parser) entity(start, depth int, inDigest bool) (*Part, stop) {
	p.parts++
	part := &Part{Start: start}
	// Header: up to the first empty line, or a delimiter line, or the end.
	i, st, bodied := start, p.eof(), false
	for i < len(p.raw) {
		e := p.lineEnd(i)
		if lvl, cl := p.delim(i, e); lvl > 0 {
			st = stop{pos: i, next: e, lvl: lvl, close: cl}
			break
		}
		if (e-i == 1 && p.raw[i] == '\n') || (e-i == 2 && p.raw[i] == '\r' && p.raw[i+1] == '\n') {
			i, bodied = e, true
			break
		}
		i = e
	}
	if bodied {
		part.BodyStart = i
	} else {
		part.BodyStart = p.contentEnd(start, st)
		i = part.BodyStart
	}
	p.fields(part, start, part.BodyStart)
	if !part.HasContentType && inDigest {
		part.Type, part.Subtype = "message", "rfc822"
	}
	if !bodied {
		// A header cut short by a delimiter: nothing to open.
		part.End = part.BodyStart
		if part.Type == "multipart" {
			part.Params = withoutBoundary(part.Params)
		}
		return part, st
	}

	// An empty boundary (boundary="") is outside RFC 2046's grammar but
	// says what it means: its delimiter lines are "--" alone; Dovecot and
	// MIME parsers such as MimeKit read it so.
	_, hasBoundary := part.Params["boundary"]
	multipart := part.Type == "multipart" && hasBoundary
	message := part.Type == "message" && (part.Subtype == "rfc822" || part.Subtype == "global")
	if (multipart || message) && (depth >= p.lim.MaxDepth || p.parts >= p.lim.MaxParts) {
		p.makeOpaque(part)
		multipart, message = false, false
	}
	switch {
	case multipart:
		st = p.multipart(part, i, depth)
	case message:
		m, mst := p.entity(i, depth+1, false)
		part.Message, part.End = m, m.End
		return part, mst
	default:
		if part.Type == "multipart" {
			// No boundary: nothing can be split off; a multipart with no
			// parts, as other servers report it.
			part.Params = withoutBoundary(part.Params)
		}
		st = p.nextDelim(i)
	}
	part.End = p.contentEnd(part.BodyStart, st)
	if n := len(part.Children); n > 0 {
		// An empty last part right before the enclosing delimiter starts
		// after the line break the delimiter owns.
		part.End = max(part.End, part.Children[n-1].End)
	}
	return part, st
}

// multipart reads a multipart body from i: preamble, parts between
// delimiter lines, the close delimiter and the epilogue. It returns the
// stop line of an enclosing multipart, or the end of the message.
func (p *parser) multipart(part *Part, i, depth int) stop {
	b := part.Params["boundary"]
	p.levels++
	level := p.levels
	// A nested multipart that reuses an enclosing one's boundary (RFC
	// 2046 section 5.1.2 forbids it; Outlook Express for Mac sent it) owns
	// it until its close delimiter, as Dovecot reads it: its parts are
	// its own, and the enclosing multipart goes on after it.
	node := p.active.insert(b)
	prev, owned := node.level, true
	node.level = level
	release := func() {
		if owned {
			node.level, owned = prev, false
		}
	}
	defer func() {
		release()
		p.levels--
	}()
	digest := part.Subtype == "digest"
	st := p.nextDelim(i) // end of the preamble
	for st.lvl == level && !st.close {
		if p.parts >= p.lim.MaxParts {
			// No budget for more parts: the rest stays in this body.
			p.truncated = true
			st = p.nextDelim(st.next)
			for st.lvl == level && !st.close {
				st = p.nextDelim(st.next)
			}
			break
		}
		child, cst := p.entity(st.next, depth+1, digest)
		part.Children = append(part.Children, child)
		st = cst
	}
	if st.lvl == level && st.close {
		// Epilogue: this multipart is closed, only an enclosing
		// delimiter (or the end) ends it now.
		release()
		st = p.nextDelim(st.next)
		for st.lvl >= level {
			st = p.nextDelim(st.next)
		}
	}
	return st
}

func (p *parser) makeOpaque(part *Part) {
	p.truncated = true
	part.Opaque = true
	part.DeclaredType = part.Type + "/" + part.Subtype
	part.Type, part.Subtype = "application", "octet-stream"
	part.Params = nil
}

func withoutBoundary(params map[string]string) map[string]string {
	if _, ok := params["boundary"]; !ok {
		return params
	}
	out := make(map[string]string, len(params))
	for k, v := range params {
		if k != "boundary" {
			out[k] = v
		}
	}
	return out
}

// fields reads the Content-* fields of the header raw[start:end]; the
// first occurrence of each counts.
func (p *parser) fields(part *Part, start, end int) {
	var ctype string
	var haveType, haveEnc, haveID, haveDesc, haveDisp, haveLang, haveLoc, haveMD5 bool
	i := start
	for i < end {
		ls := i
		e := min(p.lineEnd(i), end)
		line := p.raw[ls:e]
		i = e
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue // continuation lines are read with their field
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		name := bytes.TrimRight(line[:colon], " \t")
		if len(name) < 10 || !bytes.EqualFold(name[:8], []byte("content-")) {
			continue
		}
		// The value runs on over continuation lines.
		ve := e
		for ve < end && (p.raw[ve] == ' ' || p.raw[ve] == '\t') {
			ve = min(p.lineEnd(ve), end)
		}
		value := func() string { return unfold(p.raw[ls+colon+1 : ve]) }
		switch rest := name[8:]; {
		case bytes.EqualFold(rest, []byte("type")) && !haveType:
			ctype, haveType = value(), true
		case bytes.EqualFold(rest, []byte("transfer-encoding")) && !haveEnc:
			part.Encoding, haveEnc = value(), true
		case bytes.EqualFold(rest, []byte("id")) && !haveID:
			part.ID, haveID = value(), true
			part.Present |= FieldID
		case bytes.EqualFold(rest, []byte("description")) && !haveDesc:
			part.Description, haveDesc = value(), true
			part.Present |= FieldDescription
		case bytes.EqualFold(rest, []byte("disposition")) && !haveDisp:
			part.Disposition, haveDisp = value(), true
		case bytes.EqualFold(rest, []byte("language")) && !haveLang:
			part.Language, haveLang = value(), true
		case bytes.EqualFold(rest, []byte("location")) && !haveLoc:
			part.Location, haveLoc = value(), true
			part.Present |= FieldLocation
		case bytes.EqualFold(rest, []byte("md5")) && !haveMD5:
			part.MD5, haveMD5 = value(), true
			part.Present |= FieldMD5
		}
	}
	part.Type, part.Subtype = "text", "plain"
	if haveType {
		part.ContentType = ctype
		v, params := ParseValue(ctype)
		if t, s, ok := strings.Cut(v, "/"); ok && isToken(t) && isToken(s) {
			part.Type, part.Subtype, part.Params, part.HasContentType = t, s, params, true
		}
	}
}

// unfold joins a folded header value (RFC 5322 section 2.2.3) and trims it.
func unfold(b []byte) string {
	if bytes.IndexAny(b, "\r\n") < 0 {
		return string(bytes.TrimSpace(b))
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c != '\r' && c != '\n' {
			out = append(out, c)
		}
	}
	return string(bytes.TrimSpace(out))
}

// trie holds the open boundaries. Nodes are never removed during a parse
// (closing a multipart clears its level), so the trie is at most as large
// as the boundaries the message declared.
type trie struct {
	root trieNode
}

type trieNode struct {
	c     byte
	level int
	kids  []*trieNode
}

func (n *trieNode) kid(c byte) *trieNode {
	for _, k := range n.kids {
		if k.c == c {
			return k
		}
	}
	return nil
}

func (t *trie) insert(s string) *trieNode {
	n := &t.root
	for i := 0; i < len(s); i++ {
		k := n.kid(s[i])
		if k == nil {
			k = &trieNode{c: s[i]}
			n.kids = append(n.kids, k)
		}
		n = k
	}
	return n
}

// match returns the level and length of the longest open boundary that
// prefixes s (level 0: none).
func (t *trie) match(s []byte) (level, n int) {
	cur := &t.root
	level = cur.level // an empty boundary prefixes every line
	for i := 0; i < len(s); i++ {
		cur = cur.kid(s[i])
		if cur == nil {
			break
		}
		if cur.level > 0 {
			level, n = cur.level, i+1
		}
	}
	return level, n
}

// isToken reports whether s is an RFC 2045 token: one or more printable
// ASCII characters, no space and no tspecial. A media type that is not
// two tokens ("text/plain>") is unusable, and the part is text/plain.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && strings.IndexByte("()<>@,;:\\\"/[]?=", c) < 0
}
