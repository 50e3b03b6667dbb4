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

// bodyStructure describes the message's MIME structure from its bounded
// parse: a part beyond the depth or part limits is an opaque
// application/octet-stream part, so a hostile message still fetches.
func bodyStructure(m *parsed) imap.BodyStructure {
	t := m.parse()
	return structureOf(t, t.Root)
}

func structureOf(t *mimetree.Tree, p *mimetree.Part) imap.BodyStructure {
	if p.IsMultipart() {
		mp := &imap.BodyStructureMultiPart{
			Subtype: p.Subtype,
			Extended: &imap.BodyStructureMultiPartExt{
				Params:      p.Params,
				Disposition: disposition(p),
				Language:    languages(p.Language),
				Location:    p.Location,
			},
		}
		for _, c := range p.Children {
			mp.Children = append(mp.Children, structureOf(t, c))
		}
		if len(mp.Children) == 0 {
			// The grammar needs one part; other servers report an
			// empty text/plain one.
			mp.Children = []imap.BodyStructure{plainPart(nil)}
		}
		return mp
	}
	sp := &imap.BodyStructureSinglePart{
		Type: p.Type, Subtype: p.Subtype, Params: p.Params,
		ID: p.ID, Description: p.Description, Encoding: p.Encoding,
		Size: uint32(p.End - p.BodyStart),
		Extended: &imap.BodyStructureSinglePartExt{
			Disposition: disposition(p),
			Language:    languages(p.Language),
			Location:    p.Location,
		},
	}
	if sp.Encoding == "" {
		sp.Encoding = "7bit"
	}
	if _, ok := p.Params["charset"]; p.Type == "text" && !ok {
		// A text part says US-ASCII when it names no charset: RFC 2045
		// section 5.2 without a Content-Type, RFC 2046 section 4.1.2 with
		// one. The part's own map is shared, so the answer gets a copy.
		params := make(map[string]string, len(p.Params)+1)
		for k, v := range p.Params {
			params[k] = v
		}
		params["charset"] = "us-ascii"
		sp.Params = params
	}
	switch {
	case p.Type == "text":
		sp.Text = &imap.BodyStructureText{NumLines: int64(t.Lines(p.BodyStart, p.End))}
	case p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global"):
		sp.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			BodyStructure: plainPart(nil),
			NumLines:      int64(t.Lines(p.BodyStart, p.End)),
		}
		part := &rfc822Part{BodyStructureSinglePart: sp, env: &envelopeData{}}
		if p.Message != nil {
			part.env = envelope(t.Header(p.Message))
			sp.MessageRFC822.BodyStructure = structureOf(t, p.Message)
		}
		return part
	}
	return sp
}

// rfc822Part is a message/rfc822 (or message/global) part: go-imap's
// single part, whose Envelope field cannot hold what ENVELOPE sends (the
// Date header as written, source routes), with the embedded message's
// envelope beside it.
type rfc822Part struct {
	*imap.BodyStructureSinglePart
	env *envelopeData
}

func disposition(p *mimetree.Part) *imap.BodyStructureDisposition {
	if p.Disposition == "" {
		return nil
	}
	v, params := mimetree.ParseValue(p.Disposition)
	if v == "" {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: v, Params: params}
}

func languages(v string) []string {
	if v == "" {
		return nil
	}
	var out []string
	for _, l := range strings.Split(v, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func plainPart(body []byte) *imap.BodyStructureSinglePart {
	return &imap.BodyStructureSinglePart{
		Type: "text", Subtype: "plain", Size: uint32(len(body)),
		Params: map[string]string{"charset": "us-ascii"}, Encoding: "7bit",
		Text:     &imap.BodyStructureText{NumLines: int64(bytes.Count(body, []byte("\n")))},
		Extended: &imap.BodyStructureSinglePartExt{},
	}
}

// guard runs a MIME parsing step and turns a panic on hostile input into
// the step's zero result, so one bad message cannot end the session.
func guard(f func()) {
	defer func() { _ = recover() }()
	f()
}
