package lmtp

import (
	"bytes"
)

// maxQueueIDScan bounds how far into a message receivedQueueID looks.
const maxQueueIDScan = 8 << 10

// receivedQueueID returns the MTA's queue id from the message's first
// Received: field, "" when there is none. Postfix's LMTP client does not
// send its queue id in the protocol (XFORWARD is for content filters); the
// Received: line it adds on the way in says "... with ESMTP id 4fQx1B2c3Dz
// for <rcpt>; date", and that line is topmost in the message it hands
// over. Only the first 8 KiB of the header are read, and the id is cut at
// 64 printable characters: it is the sender's word, for the log only.
func receivedQueueID(msg []byte) string {
	msg = msg[:min(len(msg), maxQueueIDScan)]
	var field []byte
	for len(msg) > 0 {
		end := bytes.IndexByte(msg, '\n')
		line := msg
		if end >= 0 {
			line, msg = msg[:end], msg[end+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			break // end of the header
		}
		if field != nil {
			if line[0] != ' ' && line[0] != '\t' {
				break // the Received: field ended
			}
			field = append(append(field, ' '), line...)
			continue
		}
		if len(line) > 9 && bytes.EqualFold(line[:9], []byte("received:")) {
			field = append([]byte{}, line[9:]...)
		}
	}
	if field == nil {
		return ""
	}
	if semi := bytes.IndexByte(field, ';'); semi >= 0 {
		field = field[:semi]
	}
	words := bytes.Fields(stripComments(field))
	for i := 0; i+1 < len(words); i++ {
		if bytes.EqualFold(words[i], []byte("id")) {
			id := words[i+1]
			if len(id) > 64 {
				id = id[:64]
			}
			for _, c := range id {
				if c < 0x21 || c > 0x7e {
					return ""
				}
			}
			return string(id)
		}
	}
	return ""
}

// stripComments removes RFC 5322 comments (parenthesised, nested, with
// backslash escapes) from a field body.
func stripComments(b []byte) []byte {
	out := make([]byte, 0, len(b))
	depth := 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
			out = append(out, ' ')
		case depth == 0:
			out = append(out, c)
		}
	}
	return out
}
