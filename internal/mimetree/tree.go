package mimetree

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"unicode"
)

// lineBlock is the stride of the line-count index: a count costs at most
// two partial blocks, so every BODYSTRUCTURE line count together stays
// linear in the message size.
const lineBlock = 4096

// Lines counts the '\n' in Raw[from:to].
func (t *Tree) Lines(from, to int) int {
	if t.lines == nil {
		n := len(t.Raw)/lineBlock + 1
		t.lines = make([]int, n)
		for i := 1; i < n; i++ {
			t.lines[i] = t.lines[i-1] + bytes.Count(t.Raw[(i-1)*lineBlock:i*lineBlock], []byte("\n"))
		}
	}
	return t.linesTo(to) - t.linesTo(from)
}

func (t *Tree) linesTo(x int) int {
	b := x / lineBlock
	return t.lines[b] + bytes.Count(t.Raw[b*lineBlock:x], []byte("\n"))
}

// Find returns the part a section path names (RFC 3501 section 6.4.5), or
// false when there is none. The path costs one step per number, however
// long.
func (t *Tree) Find(path []int) (*Part, bool) {
	cur := t.Root
	for i, n := range path {
		base := cur
		if i > 0 && cur.Message != nil {
			// The numbers after a message/rfc822 part index the parts
			// of the message it encloses.
			base = cur.Message
		}
		switch {
		case base.IsMultipart():
			if n < 1 || n > len(base.Children) {
				return nil, false
			}
			cur = base.Children[n-1]
		case n == 1:
			cur = base // a non-multipart is its own part 1
		default:
			return nil, false
		}
	}
	return cur, true
}

// Header returns p's raw header, with its closing empty line.
func (t *Tree) Header(p *Part) []byte { return t.Raw[p.Start:p.BodyStart] }

// Body returns p's raw body.
func (t *Tree) Body(p *Part) []byte { return t.Raw[p.BodyStart:p.End] }

// Enclosed returns the message p stands for when HEADER or TEXT is asked
// of it: the message a message/rfc822 part encloses, else p itself.
func (p *Part) Enclosed() *Part {
	if p.Message != nil {
		return p.Message
	}
	return p
}

// FilterFields returns the fields of header whose names are (keep true)
// or are not (keep false) in names, each with its continuation lines, byte
// for byte, followed by the empty line that ends a header (RFC 3501
// HEADER.FIELDS and HEADER.FIELDS.NOT). A header with no empty line (a
// message with no body) gets none: RFC 3501 section 6.4.5 includes the
// blank line "except in the case of a message which has no body and no
// blank line".
func FilterFields(header []byte, names []string, keep bool) []byte {
	// Names are compared case-insensitively in place: a FETCH of header
	// fields runs this on every message, so no per-line allocation.
	wanted := func(name []byte) bool {
		for _, n := range names {
			if len(n) == len(name) && bytes.EqualFold([]byte(n), name) {
				return true
			}
		}
		return false
	}
	// With keep, a field whose first byte no wanted name starts with is
	// dropped at that byte, before looking for its colon. first is left
	// empty (no shortcut) when a name is empty or starts outside ASCII.
	var first [128]bool
	quick := keep
	for _, n := range names {
		if n == "" || n[0] >= 0x80 {
			quick = false
			break
		}
		first[LowerASCII(n[0])], first[upperASCII(n[0])] = true, true
	}
	out := make([]byte, 0, 256)
	take := false
	for i := 0; i < len(header); {
		e := bytes.IndexByte(header[i:], '\n')
		if e < 0 {
			e = len(header)
		} else {
			e += i + 1
		}
		line := header[i:e]
		i = e
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if take {
				out = append(out, line...)
			}
			continue
		}
		if bytes.Equal(line, []byte("\r\n")) || bytes.Equal(line, []byte("\n")) {
			return append(out, '\r', '\n')
		}
		if c := line[0]; quick && c > ' ' && c < 0x7f && c != ':' && !first[c] {
			take = false
			continue
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			take = false
			continue
		}
		take = wanted(bytes.TrimRight(name, " \t")) == keep
		if take {
			out = append(out, line...)
			if !bytes.HasSuffix(line, []byte("\n")) {
				out = append(out, '\r', '\n')
			}
		}
	}
	return out
}

// LowerASCII lower-cases an ASCII letter and returns any other byte as it
// is (header field names are compared this way).
func LowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// ErrUnknownEncoding is returned by Decode for a Content-Transfer-Encoding
// it does not know (IMAP answers NO [UNKNOWN-CTE], RFC 3516).
var ErrUnknownEncoding = errors.New("mimetree: unknown content transfer encoding")

// Decode undoes a Content-Transfer-Encoding (lower case, "" for none).
// Decoding is lenient, as mail readers are: base64 skips characters
// outside its alphabet and stops at the padding; quoted-printable keeps an
// '=' that starts no valid escape.
// Common misspellings seen in real mail ("7-bit", "8bits", "quoted
// printable") count as what they mean.
func Decode(body []byte, encoding string) ([]byte, error) {
	e := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '-', '_':
			return -1
		}
		return unicode.ToLower(r)
	}, encoding)
	switch strings.TrimSuffix(e, "s") {
	case "", "7bit", "8bit", "binary":
		return body, nil
	case "base64":
		return decodeBase64(body), nil
	case "quotedprintable":
		return decodeQP(body), nil
	}
	return nil, ErrUnknownEncoding
}

func decodeBase64(body []byte) []byte {
	clean := make([]byte, 0, len(body))
	for _, c := range body {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			clean = append(clean, c)
		case c == '=':
			goto done
		}
	}
done:
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1] // a lone sextet carries no byte
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// decodeQP undoes quoted-printable (RFC 2045 section 6.7). White space
// at the end of an encoded line is dropped, as rule 3 asks: an encoder
// never leaves it there (it writes =20 or =09), so it was added in
// transport; white space that an escape or a soft line break follows is
// kept.
func decodeQP(body []byte) []byte {
	out := make([]byte, 0, len(body))
	keep := 0 // out[keep:] is white space that may end the current line
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\n':
			out = append(out[:keep], c)
			keep = len(out)
			continue
		case c == '\r' && i+1 < len(body) && body[i+1] == '\n':
			out = append(out[:keep], '\r', '\n')
			keep = len(out)
			i++
			continue
		case c == ' ' || c == '\t':
			out = append(out, c)
			continue
		case c != '=':
			out = append(out, c)
			keep = len(out)
			continue
		}
		// Soft line break: '=' then optional white space and a line end.
		j := i + 1
		for j < len(body) && (body[j] == ' ' || body[j] == '\t') {
			j++
		}
		if j < len(body) && body[j] == '\n' {
			i = j
			keep = len(out)
			continue
		}
		if j+1 < len(body) && body[j] == '\r' && body[j+1] == '\n' {
			i = j + 1
			keep = len(out)
			continue
		}
		if j == len(body) {
			keep = len(out)
			break
		}
		if i+2 < len(body) {
			hi, ok1 := unhex(body[i+1])
			lo, ok2 := unhex(body[i+2])
			if ok1 && ok2 {
				out = append(out, hi<<4|lo)
				keep = len(out)
				i += 2
				continue
			}
		}
		out = append(out, c)
		keep = len(out)
	}
	return out[:keep]
}
