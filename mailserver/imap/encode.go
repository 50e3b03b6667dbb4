package imap

import (
	"bytes"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/internal/mimetree"
)

// encoder builds responses (RFC 9051 section 7, "response") on a buffered
// writer. Strings go out as quoted strings when they can (7-bit text
// without CR, LF or NUL) and as literals otherwise; message bytes always
// go out as literals, or literal8 for BINARY when they hold a NUL (an
// ordinary literal sends NUL as 0x80, see literal).
type encoder struct {
	w   *sendBuf
	err error
	// utf8: the client enabled UTF8=ACCEPT (RFC 6855), so quoted strings
	// may carry UTF-8.
	utf8 bool
}

func (e *encoder) raw(s string) *encoder {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
	return e
}

func (e *encoder) bytes(b []byte) *encoder {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
	return e
}

func (e *encoder) sp() *encoder { return e.raw(" ") }

func (e *encoder) crlf() *encoder { return e.raw("\r\n") }

func (e *encoder) num(n uint32) *encoder { return e.num64(uint64(n)) }

func (e *encoder) num64(n uint64) *encoder {
	if e.err == nil {
		e.err = e.w.WriteUint(n)
	}
	return e
}

// quotable reports whether s can be sent as a quoted string.
func quotable(s string, utf8 bool) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 || c == '\r' || c == '\n' || (c >= 0x80 && !utf8) {
			return false
		}
	}
	return !utf8 || validUTF8(s)
}

// str writes s as a quoted string or, when it cannot be quoted, as a
// literal. UTF-8 text (IMAP4rev2, RFC 9051 allows it in quoted strings
// only with UTF8=ACCEPT) goes out as a literal.
func (e *encoder) str(s string) *encoder {
	if quotable(s, e.utf8) {
		e.raw(`"`)
		for i := 0; i < len(s); i++ {
			if s[i] == '"' || s[i] == '\\' {
				e.raw(`\`)
			}
			if e.err == nil {
				e.err = e.w.WriteByte(s[i])
			}
		}
		return e.raw(`"`)
	}
	return e.literal([]byte(s), false)
}

// astr writes s as an atom when it is one, else as a string.
func (e *encoder) astr(s string) *encoder {
	if s == "" || strings.EqualFold(s, "NIL") {
		return e.str(s)
	}
	for i := 0; i < len(s); i++ {
		if !isAtomChar(s[i]) && s[i] != ']' {
			return e.str(s)
		}
	}
	return e.raw(s)
}

func (e *encoder) nstr(s string) *encoder {
	if s == "" {
		return e.raw("NIL")
	}
	return e.str(s)
}

// mailbox writes a mailbox name (UTF-8 names go out as literals; a
// client that asked for modified UTF-7 is not supported).
func (e *encoder) mailbox(name string) *encoder { return e.str(name) }

// literal writes b as a literal, or as literal8 ("~{n}") when binary is
// set and b holds a NUL (RFC 3516: only BINARY may carry NUL, and only in
// literal8). An ordinary literal cannot carry NUL (RFC 9051: CHAR8 is
// %x01-ff), so a NUL in BODY[], RFC822 or a string goes out as 0x80, as
// Dovecot sends it: the length stays, the stored message is unchanged,
// and BINARY[] still gives the bytes exactly.
func (e *encoder) literal(b []byte, binary bool) *encoder {
	nul := bytes.IndexByte(b, 0)
	if binary && nul >= 0 {
		e.raw("~")
	}
	e.raw("{").num64(uint64(len(b))).raw("}\r\n")
	if binary || nul < 0 {
		return e.bytes(b)
	}
	for len(b) > 0 && e.err == nil {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return e.bytes(b)
		}
		e.bytes(b[:i])
		if e.err == nil {
			e.err = e.w.WriteByte(0x80)
		}
		b = b[i+1:]
	}
	return e
}

func (e *encoder) flags(flags []imap.Flag) *encoder {
	e.raw("(")
	for i, f := range flags {
		if i > 0 {
			e.sp()
		}
		e.raw(string(f))
	}
	return e.raw(")")
}

func (e *encoder) numSet(s imap.NumSet) *encoder { return e.raw(s.String()) }

func (e *encoder) date(t time.Time) *encoder {
	return e.raw(`"` + t.Format("02-Jan-2006 15:04:05 -0700") + `"`)
}

// status writes "tag TYPE [CODE] text" or "* TYPE ...".
func (e *encoder) status(tag string, typ imap.StatusResponseType, code imap.ResponseCode, text string) *encoder {
	if tag == "" {
		tag = "*"
	}
	e.raw(tag).sp().raw(string(typ)).sp()
	if code != "" {
		e.raw("[").raw(string(code)).raw("] ")
	}
	if text == "" {
		text = "Done"
	}
	return e.raw(cleanText(text)).crlf()
}

// cleanText keeps response text on one line.
func cleanText(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	}
	return s
}

func (e *encoder) envelope(env *envelopeData) *encoder {
	if env == nil {
		env = &envelopeData{}
	}
	// A field the header has is a string, "" when empty; NIL is for
	// one it lacks.
	field := func(v string, bit envFields) *encoder {
		if env.Present&bit != 0 {
			return e.str(v)
		}
		return e.nstr(v)
	}
	e.raw("(")
	field(env.Date, envDate).sp()
	field(env.Subject, envSubject)
	for _, l := range [][]address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		e.sp().addressList(l)
	}
	e.sp()
	field(env.InReplyTo, envInReplyTo).sp()
	field(env.MessageID, envMessageID)
	return e.raw(")")
}

func (e *encoder) addressList(l []address) *encoder {
	if len(l) == 0 {
		return e.raw("NIL")
	}
	e.raw("(")
	for i, a := range l {
		if i > 0 {
			e.sp()
		}
		e.raw("(").nstr(a.Name).sp().nstr(a.Route).sp().nstr(a.Mailbox).sp().nstr(a.Host).raw(")")
	}
	return e.raw(")")
}

// field writes a header field's value: a string when the header has the
// field, even empty, NIL when it does not.
func (e *encoder) field(v string, present bool) *encoder {
	if present {
		return e.str(v)
	}
	return e.nstr(v)
}

// params writes a body parameter list in the order it is given.
func (e *encoder) params(l []mimetree.Param) *encoder {
	if len(l) == 0 {
		return e.raw("NIL")
	}
	e.raw("(")
	for i, p := range l {
		if i > 0 {
			e.sp()
		}
		e.str(p.Name).sp().str(p.Value)
	}
	return e.raw(")")
}

func (e *encoder) disposition(d *disposition) *encoder {
	if d == nil {
		return e.raw("NIL")
	}
	return e.raw("(").str(d.value).sp().params(d.params).raw(")")
}

// language writes body-fld-lang. The grammar allows a lone string for
// one language; a list is always sent, as Dovecot does, so one answer has
// one shape.
func (e *encoder) language(l []string) *encoder {
	if len(l) == 0 {
		return e.raw("NIL")
	}
	e.raw("(")
	for i, s := range l {
		if i > 0 {
			e.sp()
		}
		e.str(s)
	}
	return e.raw(")")
}

// bodyStructure writes BODY (extended false) or BODYSTRUCTURE.
func (e *encoder) bodyStructure(bp *bodyPart, extended bool) *encoder {
	if bp.multipart {
		e.raw("(")
		for _, c := range bp.children {
			e.bodyStructure(c, extended)
		}
		e.sp().str(bp.subtype)
		if extended {
			e.sp().params(bp.params).sp().disposition(bp.disposition).sp().language(bp.language).sp().field(bp.location, bp.present&mimetree.FieldLocation != 0)
		}
		return e.raw(")")
	}
	e.raw("(").str(bp.typ).sp().str(bp.subtype).sp().params(bp.params).sp().
		field(bp.id, bp.present&mimetree.FieldID != 0).sp().field(bp.description, bp.present&mimetree.FieldDescription != 0).sp().
		str(bp.encoding).sp().num(bp.size)
	if bp.message != nil {
		e.sp().envelope(bp.env).sp().bodyStructure(bp.message, extended).sp().num64(uint64(bp.lines))
	} else if bp.hasLines {
		e.sp().num64(uint64(bp.lines))
	}
	if extended {
		e.sp().field(bp.md5, bp.present&mimetree.FieldMD5 != 0).sp().disposition(bp.disposition).sp().language(bp.language).sp().field(bp.location, bp.present&mimetree.FieldLocation != 0)
	}
	return e.raw(")")
}

// section writes a section spec: "1.2.HEADER.FIELDS (A B)".
func (e *encoder) section(part []int, spec imap.PartSpecifier, fields, notFields []string) *encoder {
	for i, p := range part {
		if i > 0 {
			e.raw(".")
		}
		e.num(uint32(p))
	}
	if spec == imap.PartSpecifierNone {
		return e
	}
	if len(part) > 0 {
		e.raw(".")
	}
	e.raw(string(spec))
	var l []string
	switch {
	case len(fields) > 0:
		e.raw(".FIELDS")
		l = fields
	case len(notFields) > 0:
		e.raw(".FIELDS.NOT")
		l = notFields
	default:
		return e
	}
	e.raw(" (")
	for i, f := range l {
		if i > 0 {
			e.sp()
		}
		e.astr(f)
	}
	return e.raw(")")
}

func validUTF8(s string) bool { return utf8.ValidString(s) }
