package imap

import (
	"bufio"
	"bytes"

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
		bs = &imap.BodyStructureSinglePart{
			Type: "text", Subtype: "plain", Size: uint32(len(body)),
			Params: map[string]string{"charset": "us-ascii"}, Encoding: "7bit",
			Text: &imap.BodyStructureText{NumLines: int64(bytes.Count(body, []byte("\n")))},
		}
	}
	return bs
}

// guard runs a MIME parsing step and turns a panic on hostile input into
// the step's zero result, so one bad message cannot end the session.
func guard(f func()) {
	defer func() { _ = recover() }()
	f()
}
