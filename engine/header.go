package engine

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	"github.com/tidemark/tidemark/internal/mimetree"
)

// Header reading for SEARCH, SORT and THREAD: the fields of a message's
// top-level header, RFC 2047 words decoded in any charset go-message
// knows, and the address lists of From/To/Cc parsed even when they carry
// comments or groups.

// wordDecoder decodes RFC 2047 encoded words in every charset go-message
// knows (x/text encodings), not only UTF-8 and ISO-8859-1; the bytes of a
// word in an unknown charset are taken as they are.
var wordDecoder = &mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
	if cr, err := charset.Reader(cs, r); err == nil {
		return cr, nil
	}
	return r, nil
}}

// decodeWords returns s with its encoded words decoded, as valid UTF-8:
// a header that does not decode is kept as written, and each run of bytes
// that are not valid UTF-8 (raw 8-bit text, a word in an unknown charset)
// becomes U+FFFD, as Dovecot does for SORT and THREAD.
func decodeWords(s string) string {
	if strings.Contains(s, "=?") {
		if d, err := wordDecoder.DecodeHeader(s); err == nil {
			s = d
		}
	}
	return validUTF8(s)
}

// validUTF8 replaces each run of bytes of s that are not valid UTF-8 with
// one U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// hfield is one header field: its name in lower case and its value
// unfolded (line breaks removed, the white space after them kept), as
// stored.
type hfield struct {
	name, value string
}

// headerEnd returns the length of the header of raw, including the empty
// line that ends it, and whether that line was found.
func headerEnd(raw []byte) (int, bool) {
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return 2, true
	}
	if bytes.HasPrefix(raw, []byte("\n")) {
		return 1, true
	}
	i := bytes.Index(raw, []byte("\n\r\n"))
	j := bytes.Index(raw, []byte("\n\n"))
	switch {
	case i >= 0 && (j < 0 || i < j):
		return i + 3, true
	case j >= 0:
		return j + 2, true
	}
	return len(raw), false
}

// parseFields splits a header block into fields. Lines that are neither a
// field nor a continuation are skipped, as mail readers do.
func parseFields(h []byte) []hfield {
	var out []hfield
	for len(h) > 0 {
		line := h
		if i := bytes.IndexByte(h, '\n'); i >= 0 {
			line, h = h[:i], h[i+1:]
		} else {
			h = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // end of the header
		}
		if line[0] == ' ' || line[0] == '\t' {
			if n := len(out); n > 0 {
				out[n-1].value += string(line)
			}
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(bytes.TrimSpace(name)) == 0 {
			continue
		}
		out = append(out, hfield{
			name:  strings.ToLower(string(bytes.TrimSpace(name))),
			value: string(value),
		})
	}
	for i := range out {
		out[i].value = strings.TrimSpace(out[i].value)
	}
	return out
}

// fieldValues calls fn with the value of each field of the header block h
// named name (lower case), in order, as parseFields would give them
// (continuation lines joined, also across a malformed line, and the value
// trimmed), until fn returns false. It reads h in place: only the values
// of the fields asked for become strings.
func fieldValues(h []byte, name string, fn func(value string) bool) {
	var cur []byte      // the first line's value of the last field, when named name
	var pieces [][]byte // with its continuation lines, when it has some
	match := false
	emit := func() bool {
		if !match {
			return true
		}
		if pieces != nil {
			return fn(strings.TrimSpace(string(bytes.Join(pieces, nil))))
		}
		return fn(strings.TrimSpace(string(cur)))
	}
	for len(h) > 0 {
		line := h
		if i := bytes.IndexByte(h, '\n'); i >= 0 {
			line, h = h[:i], h[i+1:]
		} else {
			h = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // end of the header
		}
		c := line[0]
		if c == ' ' || c == '\t' {
			if match {
				if pieces == nil {
					pieces = [][]byte{cur}
				}
				pieces = append(pieces, line)
			}
			continue
		}
		// Most fields are not the one asked for, and their first byte
		// says so: a printable ASCII byte is the first of the trimmed
		// name and lower-cases to itself or its letter. Skipping them
		// changes nothing while no field matches; a line without a
		// colon is skipped below as well.
		if !match && name != "" && c > ' ' && c < 0x7f && c != ':' && mimetree.LowerASCII(c) != name[0] {
			continue
		}
		n, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(bytes.TrimSpace(n)) == 0 {
			continue // not a field: continuations still join the last one
		}
		if !emit() {
			return
		}
		match = nameIs(bytes.TrimSpace(n), name)
		cur, pieces = value, nil
	}
	emit()
}

// nameIs reports whether strings.ToLower(string(b)) == lower, without the
// copy for the ASCII names every header has.
func nameIs(b []byte, lower string) bool {
	for _, c := range b {
		if c >= 0x80 {
			return strings.ToLower(string(b)) == lower
		}
	}
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// firstField returns the value of the first field named name (lower case).
func firstField(fields []hfield, name string) (string, bool) {
	for _, f := range fields {
		if f.name == name {
			return f.value, true
		}
	}
	return "", false
}

// sentDate parses a Date field value; ok is false when it does not parse.
// The result keeps the sender's zone.
func sentDate(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	v = numericZone(strings.Join(strings.Fields(stripComments(v)), " "))
	// Obsolete syntax (RFC 5322 section 4.5.3) allows white space and
	// comments around the time's colons: "09 : 55 : 06".
	v = strings.ReplaceAll(strings.ReplaceAll(v, " :", ":"), ": ", ":")
	t, err := mail.ParseDate(v)
	if err != nil {
		// A missing or unreadable zone ("Eastern Daylight Time") is
		// read as +0000, as Dovecot does: keep up to the time of day.
		f := strings.Fields(v)
		for len(f) > 0 && !strings.Contains(f[len(f)-1], ":") {
			f = f[:len(f)-1]
		}
		if len(f) == 0 {
			return time.Time{}, false
		}
		if t, err = mail.ParseDate(strings.Join(f, " ") + " +0000"); err != nil {
			return time.Time{}, false
		}
	}
	// No mail was sent before 1970: "0102" is a broken client, and the
	// caller falls back to INTERNALDATE, as Dovecot does.
	if t.Year() < 1970 {
		return time.Time{}, false
	}
	return t, true
}

// obsZones are the zone names of RFC 5322 section 4.3 with their offsets
// in hours; net/mail would read them as +0000. Military letters and any
// other name mean -0000 (unknown), which stays UTC.
var obsZones = map[string]int{
	"UT": 0, "GMT": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
	"MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
}

// numericZone replaces a trailing obsolete zone name with its offset.
func numericZone(v string) string {
	i := strings.LastIndexAny(v, " \t")
	if i < 0 {
		return v
	}
	h, ok := obsZones[strings.ToUpper(v[i+1:])]
	if !ok {
		return v
	}
	sign := '+'
	if h < 0 {
		sign, h = '-', -h
	}
	return fmt.Sprintf("%s %c%02d00", v[:i], sign, h)
}

// isAddressField reports whether the field holds an address list.
func isAddressField(name string) bool {
	switch name {
	case "from", "to", "cc", "bcc", "sender", "reply-to",
		"resent-from", "resent-to", "resent-cc", "resent-bcc", "resent-sender":
		return true
	}
	return false
}

// mailAddr is one parsed address: the display name (decoded), the local
// part and the domain.
type mailAddr struct {
	Name, Mailbox, Host string
}

// String is the form SEARCH matches besides the raw field:
// "Name <mailbox@host>", or the bare address without a name.
func (a mailAddr) String() string {
	s := a.Mailbox + "@" + a.Host
	if a.Name != "" {
		return a.Name + " <" + s + ">"
	}
	return s
}

// parseAddrs parses an RFC 5322 address list leniently: group names and
// their ';' are dropped (members are kept), comments inside an address
// (joe(at work)@example.org) are removed, and an item that does not parse
// does not hide the others.
func parseAddrs(v string) []mailAddr {
	var out []mailAddr
	p := mail.AddressParser{WordDecoder: wordDecoder}
	for _, item := range splitTop(ungroup(v), ',') {
		if strings.TrimSpace(item) == "" {
			continue
		}
		item = validUTF8(item) // 8-bit text without an encoded word
		a, err := p.Parse(item)
		if err != nil {
			a, err = p.Parse(stripComments(item))
		}
		if err != nil {
			// What mail readers still show: the address between
			// the angle brackets as written, or a bare one.
			if m, ok := looseAddr(item); ok {
				out = append(out, m)
			}
			continue
		}
		mbox, host, ok := cutLast(a.Address, '@')
		if !ok || mbox == "" || host == "" {
			continue
		}
		// Encoded words inside a quoted name are not to be decoded
		// (RFC 2047 section 5), but senders write them and readers,
		// Dovecot among them, decode them.
		out = append(out, mailAddr{Name: decodeWords(a.Name), Mailbox: mbox, Host: host})
	}
	return out
}

func cutLast(s string, sep byte) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// ungroup turns "name: a, b; c" into " a, b, c": a top-level ':' drops
// the phrase since the last top-level comma, a top-level ';' becomes a
// comma.
func ungroup(s string) string {
	if !strings.ContainsAny(s, ":;") {
		return s
	}
	// Only bytes at or before i change, so reading s gives what a read of
	// b would.
	b := []byte(s)
	itemStart := 0
	eachTop(s, func(i int) bool {
		switch s[i] {
		case ',':
			itemStart = i + 1
		case ':':
			for j := itemStart; j <= i; j++ {
				b[j] = ' '
			}
			itemStart = i + 1
		case ';':
			b[i] = ','
			itemStart = i + 1
		}
		return true
	})
	return string(b)
}

// eachTop calls f with the index of every byte of s outside quoted
// strings, comments and angle brackets (RFC 5322 address-list syntax), in
// order, until f returns false.
func eachTop(s string, f func(i int) bool) {
	depth, quoted, angle := 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (quoted || depth > 0):
			i++
		case quoted:
			quoted = c != '"'
		case c == '"' && depth == 0:
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case angle:
		default:
			if !f(i) {
				return
			}
		}
	}
}

// splitTop splits s at sep outside quotes, comments and angle brackets.
func splitTop(s string, sep byte) []string {
	var out []string
	start := 0
	eachTop(s, func(i int) bool {
		if s[i] == sep {
			out = append(out, s[start:i])
			start = i + 1
		}
		return true
	})
	return append(out, s[start:])
}

// stripComments removes RFC 5322 comments outside quoted strings, and the
// white space around '@' that net/mail does not take inside an address.
func stripComments(s string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (quoted || depth > 0):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
		case quoted:
			quoted = c != '"'
			b.WriteByte(c)
		case c == '"' && depth == 0:
			quoted = true
			b.WriteByte(c)
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	if strings.Contains(out, "@") && !strings.Contains(out, `"`) {
		for _, sp := range []string{" @", "@ ", "\t@", "@\t"} {
			for strings.Contains(out, sp) {
				out = strings.ReplaceAll(out, sp, "@")
			}
		}
	}
	return out
}

// looseAddr takes the address of an item net/mail refuses: the text of its
// last <...>, or the item itself when it has no white space, split at its
// last '@'. The display name is the text before '<', unquoted.
func looseAddr(item string) (mailAddr, bool) {
	item = strings.TrimSpace(item)
	addr, name := item, ""
	if i := strings.LastIndexByte(item, '<'); i >= 0 {
		j := strings.IndexByte(item[i:], '>')
		if j < 0 {
			return mailAddr{}, false
		}
		addr = strings.TrimSpace(item[i+1 : i+j])
		name = strings.Trim(strings.TrimSpace(stripComments(item[:i])), `"`)
	} else if strings.ContainsAny(item, " \t") {
		return mailAddr{}, false
	}
	mbox, host, ok := cutLast(addr, '@')
	if !ok || mbox == "" || host == "" {
		return mailAddr{}, false
	}
	return mailAddr{Name: decodeWords(name), Mailbox: mbox, Host: host}, true
}
