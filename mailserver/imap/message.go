package imap

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"
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

// bodySection answers BODY[section]<partial>. The whole message, its
// header and its text are cut from the raw bytes, so they come back byte
// for byte whatever the message looks like; header field selections and
// MIME parts go through the library's MIME parser.
func bodySection(raw []byte, bs *imap.FetchItemBodySection) []byte {
	if len(bs.Part) == 0 {
		switch bs.Specifier {
		case imap.PartSpecifierNone:
			return partial(raw, bs.Partial)
		case imap.PartSpecifierHeader:
			if len(bs.HeaderFields) == 0 && len(bs.HeaderFieldsNot) == 0 {
				h, _ := splitMessage(raw)
				return partial(h, bs.Partial)
			}
		case imap.PartSpecifierText:
			_, b := splitMessage(raw)
			return partial(b, bs.Partial)
		}
	}
	var out []byte
	guard(func() { out = imapserver.ExtractBodySection(bytes.NewReader(raw), bs) })
	if out == nil {
		out = []byte{}
	}
	return out
}

func binarySection(raw []byte, bs *imap.FetchItemBinarySection) []byte {
	var out []byte
	guard(func() { out = imapserver.ExtractBinarySection(bytes.NewReader(raw), bs) })
	if out == nil {
		out = []byte{}
	}
	return out
}

func binarySectionSize(raw []byte, bs *imap.FetchItemBinarySectionSize) uint32 {
	var n uint32
	guard(func() { n = imapserver.ExtractBinarySectionSize(bytes.NewReader(raw), bs) })
	return n
}

func envelope(raw []byte) *imap.Envelope {
	env := &imap.Envelope{}
	guard(func() {
		h, _ := splitMessage(raw)
		hdr, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(h)))
		if err != nil && hdr.Len() == 0 {
			return
		}
		env = imapserver.ExtractEnvelope(hdr)
	})
	return env
}

// bodyStructure parses the MIME structure; a message the parser cannot
// handle is described as one text/plain part of its size.
func bodyStructure(raw []byte) imap.BodyStructure {
	var bs imap.BodyStructure
	guard(func() { bs = imapserver.ExtractBodyStructure(bytes.NewReader(raw)) })
	if bs == nil {
		_, body := splitMessage(raw)
		bs = plainPart(body)
	}
	return sanitizeStructure(bs)
}

func plainPart(body []byte) *imap.BodyStructureSinglePart {
	return &imap.BodyStructureSinglePart{
		Type: "text", Subtype: "plain", Size: uint32(len(body)),
		Params: map[string]string{"charset": "us-ascii"}, Encoding: "7bit",
		Text:     &imap.BodyStructureText{NumLines: int64(bytes.Count(body, []byte("\n")))},
		Extended: &imap.BodyStructureSinglePartExt{},
	}
}

// sanitizeStructure makes a parsed structure writable: the library's
// encoder panics (and drops the connection) on a multipart without parts,
// a missing extension block or a message/rfc822 part without envelope or
// structure, all of which hostile MIME produces. An empty multipart gets
// one empty text/plain part, as other servers report it.
func sanitizeStructure(bs imap.BodyStructure) imap.BodyStructure {
	switch p := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(p.Children) == 0 {
			p.Children = []imap.BodyStructure{plainPart(nil)}
		}
		for i, c := range p.Children {
			p.Children[i] = sanitizeStructure(c)
		}
		if p.Subtype == "" {
			p.Subtype = "mixed"
		}
		if p.Extended == nil {
			p.Extended = &imap.BodyStructureMultiPartExt{}
		}
		return p
	case *imap.BodyStructureSinglePart:
		if p.Type == "" || p.Subtype == "" {
			p.Type, p.Subtype = "text", "plain"
		}
		if p.Extended == nil {
			p.Extended = &imap.BodyStructureSinglePartExt{}
		}
		// The grammar requires line counts for text/* and an envelope,
		// structure and line count for message/rfc822 and message/global.
		if strings.EqualFold(p.Type, "text") && p.Text == nil && p.MessageRFC822 == nil {
			p.Text = &imap.BodyStructureText{}
		}
		if strings.EqualFold(p.Type, "message") && (strings.EqualFold(p.Subtype, "rfc822") || strings.EqualFold(p.Subtype, "global")) && p.MessageRFC822 == nil {
			p.MessageRFC822 = &imap.BodyStructureMessageRFC822{}
		}
		if m := p.MessageRFC822; m != nil {
			if m.Envelope == nil {
				m.Envelope = &imap.Envelope{}
			}
			if m.BodyStructure == nil {
				m.BodyStructure = plainPart(nil)
			}
			m.BodyStructure = sanitizeStructure(m.BodyStructure)
		}
		return p
	}
	return plainPart(nil)
}

// guard runs a MIME parsing step and turns a panic on hostile input into
// the step's zero result, so one bad message cannot end the session.
func guard(f func()) {
	defer func() { _ = recover() }()
	f()
}
