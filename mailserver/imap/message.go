package imap

import (
	"bytes"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/internal/mimetree"
)

// splitMessage cuts a raw message at the end of its header: header runs
// up to and including the first empty line (CRLF or bare LF), body is the
// rest. A message without an empty line is all header. header+body is
// always raw, so BODY[HEADER] and BODY[TEXT] of a malformed message still
// concatenate to BODY[].
func splitMessage(raw []byte) (header, body []byte) {
	i := 0
	for i < len(raw) {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return raw, nil
		}
		line := raw[i : i+j+1]
		i += j + 1
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			return raw[:i], raw[i:]
		}
	}
	return raw, nil
}

// partial applies a <offset.size> range; out-of-range gives empty.
func partial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset < 0 || p.Offset >= int64(len(b)) {
		return []byte{}
	}
	end := int64(len(b))
	if p.Size >= 0 && p.Offset+p.Size < end {
		end = p.Offset + p.Size
	}
	return b[p.Offset:end]
}

// parsed is one message read for a FETCH: its bytes and, once a part or
// the structure is asked for, its MIME tree (parsed once per message, with
// the bounds of mimetree).
type parsed struct {
	raw  []byte
	tree *mimetree.Tree
}

func (m *parsed) parse() *mimetree.Tree {
	if m.tree == nil {
		m.tree = mimetree.Parse(m.raw, mimetree.Limits{})
	}
	return m.tree
}

// bodySection answers BODY[section]<partial>. Every section is cut from
// the raw bytes, so it comes back byte for byte whatever the message looks
// like; a part that does not exist is empty.
func bodySection(m *parsed, bs *imap.FetchItemBodySection) []byte {
	var out []byte
	if len(bs.Part) == 0 {
		h, b := splitMessage(m.raw)
		switch bs.Specifier {
		case imap.PartSpecifierNone:
			out = m.raw
		case imap.PartSpecifierHeader:
			out = headerSection(h, bs)
		case imap.PartSpecifierText:
			out = b
		}
		return partial(out, bs.Partial)
	}
	t := m.parse()
	p, ok := t.Find(bs.Part)
	if !ok {
		return []byte{}
	}
	switch bs.Specifier {
	case imap.PartSpecifierNone:
		out = t.Body(p)
	case imap.PartSpecifierMIME:
		out = t.Header(p)
	case imap.PartSpecifierHeader:
		out = headerSection(t.Header(p.Enclosed()), bs)
	case imap.PartSpecifierText:
		out = t.Body(p.Enclosed())
	}
	if out == nil {
		out = []byte{}
	}
	return partial(out, bs.Partial)
}

// headerSection answers HEADER, HEADER.FIELDS and HEADER.FIELDS.NOT of a
// raw header.
func headerSection(h []byte, bs *imap.FetchItemBodySection) []byte {
	switch {
	case len(bs.HeaderFields) > 0:
		return mimetree.FilterFields(h, bs.HeaderFields, true)
	case len(bs.HeaderFieldsNot) > 0:
		return mimetree.FilterFields(h, bs.HeaderFieldsNot, false)
	}
	return h
}

// errUnknownCTE answers BINARY of a part whose transfer encoding the
// server cannot undo (RFC 3516).
var errUnknownCTE = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnknownCTE,
	Text: "Unknown Content-Transfer-Encoding"}

// binarySection answers BINARY[section]<partial>: the part with its
// transfer encoding undone. BINARY[] is the header and the decoded body of
// a single-part message; a multipart or enclosed message is not decoded.
func binarySection(m *parsed, part []int, p *imap.SectionPartial) ([]byte, error) {
	t := m.parse()
	target, ok := t.Find(part)
	if !ok {
		return []byte{}, nil
	}
	body := t.Body(target)
	if !target.IsMultipart() && target.Message == nil {
		dec, err := mimetree.Decode(body, target.Encoding)
		if err != nil {
			return nil, errUnknownCTE
		}
		body = dec
	}
	if len(part) == 0 {
		body = append(append([]byte{}, t.Header(target)...), body...)
	}
	return partial(body, p), nil
}

// bodyPart is one part of a BODYSTRUCTURE answer. go-imap's types keep
// parameters in a map, which loses the order of the header; this keeps
// them as listed.
type bodyPart struct {
	typ, subtype string
	params       []mimetree.Param
	// Single part fields.
	id, description, encoding string
	size                      uint32
	lines                     int64 // text/* and message/rfc822 only
	hasLines                  bool
	env                       *envelopeData // message/rfc822 and message/global
	message                   *bodyPart
	// children are a multipart's parts; multipart is set for one.
	children  []*bodyPart
	multipart bool
	// Extension data.
	md5         string // Content-MD5 (RFC 1864), single parts only
	disposition *disposition
	language    []string
	location    string
	// present: which of id, description, location and md5 the header
	// has; an empty one is "", an absent one NIL.
	present mimetree.Fields
}

type disposition struct {
	value  string
	params []mimetree.Param
}

// bodyStructure describes the message's MIME structure from its bounded
// parse: a part beyond the depth or part limits is an opaque
// application/octet-stream part, so a hostile message still fetches.
func bodyStructure(m *parsed) *bodyPart {
	t := m.parse()
	bp := structureOf(t, t.Root)
	if plain7bit(bp) {
		// A message that is one US-ASCII text/plain part in 7bit and
		// says nothing else about it is the default of RFC 2045 section
		// 5.2, and Dovecot answers it in the default's words whatever
		// case the header used ("TEXT/PLAIN; CHARSET=US-ASCII"): so does
		// this server, so the two agree on the commonest message.
		bp.typ, bp.subtype, bp.encoding = "text", "plain", "7bit"
		bp.params = []mimetree.Param{{Name: "charset", Value: "us-ascii"}}
	}
	return bp
}

// plain7bit reports whether a message's part is US-ASCII text/plain in
// 7bit with no other parameter and no Content-ID, -Description, -MD5,
// -Disposition, -Language or -Location.
func plain7bit(bp *bodyPart) bool {
	return !bp.multipart && bp.message == nil &&
		strings.EqualFold(bp.typ, "text") && strings.EqualFold(bp.subtype, "plain") &&
		len(bp.params) == 1 && strings.EqualFold(bp.params[0].Name, "charset") &&
		strings.EqualFold(bp.params[0].Value, "us-ascii") &&
		strings.EqualFold(bp.encoding, "7bit") && bp.present == 0 &&
		bp.disposition == nil && len(bp.language) == 0
}

// Types, subtypes, parameters and the transfer encoding are given in the
// case the header writes them, as Dovecot gives them: RFC 2045 makes the
// names case-insensitive for the client, and a parameter value such as a
// boundary or a file name is the sender's.
func structureOf(t *mimetree.Tree, p *mimetree.Part) *bodyPart {
	typ, sub := p.Type, p.Subtype
	var params []mimetree.Param
	if p.HasContentType && !p.Opaque {
		v, list := mimetree.ParamList(p.ContentType)
		if strings.EqualFold(v, typ+"/"+sub) {
			typ, sub, _ = strings.Cut(v, "/")
		}
		params = list
	}
	bp := &bodyPart{
		typ: typ, subtype: sub, params: params,
		disposition: dispositionOf(p),
		language:    languages(p.Language),
		location:    p.Location,
		present:     p.Present,
	}
	if p.IsMultipart() {
		bp.multipart = true
		for _, c := range p.Children {
			bp.children = append(bp.children, structureOf(t, c))
		}
		if len(bp.children) == 0 {
			// The grammar needs one part; other servers report an
			// empty text/plain one.
			bp.children = []*bodyPart{plainPart()}
		}
		return bp
	}
	bp.id, bp.description, bp.md5 = p.ID, p.Description, p.MD5
	bp.encoding = encodingToken(p.Encoding)
	bp.size = uint32(p.End - p.BodyStart)
	if p.Type == "text" && !hasParam(bp.params, "charset") {
		// A text part says US-ASCII when it names no charset: RFC 2045
		// section 5.2 without a Content-Type, RFC 2046 section 4.1.2 with
		// one. It goes last, after the parameters the header has.
		bp.params = append(bp.params[:len(bp.params):len(bp.params)], mimetree.Param{Name: "charset", Value: "us-ascii"})
	}
	switch {
	case p.Type == "text":
		bp.lines, bp.hasLines = int64(t.Lines(p.BodyStart, p.End)), true
	case p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global"):
		// An enclosed message is named in lower case whatever the
		// header wrote, as Dovecot names it: the type says how the
		// part is read, not how it was spelled.
		bp.typ, bp.subtype = p.Type, p.Subtype
		bp.lines, bp.hasLines = int64(t.Lines(p.BodyStart, p.End)), true
		bp.env, bp.message = &envelopeData{}, plainPart()
		if p.Message != nil {
			bp.env = envelope(t.Header(p.Message))
			bp.message = structureOf(t, p.Message)
		}
	}
	return bp
}

// encodingToken is the Content-Transfer-Encoding BODYSTRUCTURE reports: the
// one token the field holds (RFC 2045 section 6.1), comments and white
// space around it dropped; "7bit", the default, when the field is absent or
// is not a single token ("8 bit"), as Dovecot reports it.
func encodingToken(v string) string {
	v = strings.TrimSpace(stripComments(v))
	if v == "" || strings.ContainsAny(v, " \t\"()<>@,;:\\/[]?=") {
		return "7bit"
	}
	return v
}

// stripComments removes RFC 5322 comments ("(...)", nested, with quoted
// pairs) from a header value.
func stripComments(v string) string {
	if strings.IndexByte(v, '(') < 0 {
		return v
	}
	var b strings.Builder
	depth := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func hasParam(l []mimetree.Param, name string) bool {
	for _, p := range l {
		if strings.EqualFold(p.Name, name) {
			return true
		}
	}
	return false
}

func dispositionOf(p *mimetree.Part) *disposition {
	if p.Disposition == "" {
		return nil
	}
	if v, _ := mimetree.ParseValue(p.Disposition); v == "" {
		return nil
	}
	v, params := mimetree.ParamList(p.Disposition)
	return &disposition{value: v, params: params}
}

// languages reads Content-Language (RFC 3282): tags separated by commas,
// comments dropped.
func languages(v string) []string {
	if v == "" {
		return nil
	}
	var out []string
	for _, l := range strings.Split(stripComments(v), ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// plainPart is the empty text/plain part that stands for a multipart
// without parts or a message/rfc822 part with no message.
func plainPart() *bodyPart {
	return &bodyPart{
		typ: "text", subtype: "plain", encoding: "7bit", hasLines: true,
		params: []mimetree.Param{{Name: "charset", Value: "us-ascii"}},
	}
}

// guard runs a MIME parsing step and turns a panic on hostile input into
// the step's zero result, so one bad message cannot end the session.
func guard(f func()) {
	defer func() { _ = recover() }()
	f()
}
