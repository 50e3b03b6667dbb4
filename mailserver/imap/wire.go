package imap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// decoder reads client commands (RFC 9051 section 9, "command" and what
// it is made of) from the connection. It reads one byte at a time from a
// bufio.Reader that sits on the limitReader, so every line it sees has
// already passed the request-size checks; its own bounds are about
// structure: nesting depth, the size of a literal read into memory, and
// literals before authentication.
//
// A syntax error is a *syntaxError: the command is answered BAD and
// discardCommand skips what is left of it. Any other error comes from the
// connection and ends the session.
type decoder struct {
	r *bufio.Reader
	// cont sends the continuation request for a synchronising literal.
	cont func() error
	// preAuth: literals are capped at preAuthLiteral bytes and refused
	// without a continuation beyond it (RFC 9051 allows the server to
	// refuse a literal by answering the command instead of "+").
	preAuth bool
	// refused: a synchronising literal was refused; the client sends
	// nothing more of this command.
	refused bool
	// depth of parenthesised lists and search keys being parsed.
	depth int
	// lineDone: the command's final line end has been read (by end).
	lineDone bool
	// charset of a search program's strings ("" for UTF-8 and US-ASCII).
	charset string
}

const (
	// maxNesting bounds nested lists and search keys (NOT, OR and
	// parentheses), so a hostile command cannot exhaust the stack or make
	// an evaluation tree of unbounded depth.
	maxNesting = 32
	// preAuthLiteral is the largest literal accepted before
	// authentication (a LOGIN name or password).
	preAuthLiteral = 1024
	// maxMemLiteral bounds a literal read into memory (anything but an
	// APPEND message). The limitReader enforces the same bound earlier;
	// this is the second line of defence.
	maxMemLiteral = maxLiteral
)

// errPreAuthLiteral ends a connection that sends a large LITERAL+ literal
// with a command refused before authentication.
var errPreAuthLiteral = errors.New("imap: literal too large before authentication")

// syntaxError is a malformed command: answered BAD, the session goes on.
type syntaxError struct {
	msg  string
	code imap.ResponseCode
}

func (e *syntaxError) Error() string { return e.msg }

func badf(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...)}
}

func isSyntax(err error) bool {
	var se *syntaxError
	return errors.As(err, &se)
}

func newDecoder(r *bufio.Reader, cont func() error) *decoder {
	return &decoder{r: r, cont: cont}
}

func (d *decoder) peek() (byte, error) {
	b, err := d.r.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (d *decoder) readByte() (byte, error) { return d.r.ReadByte() }

// accept consumes c if it comes next.
func (d *decoder) accept(c byte) bool {
	b, err := d.peek()
	if err != nil || b != c {
		return false
	}
	d.r.ReadByte()
	return true
}

func (d *decoder) expect(c byte) error {
	b, err := d.peek()
	if err != nil {
		return err
	}
	if b != c {
		return badf("expected %q, got %q", c, b)
	}
	d.r.ReadByte()
	return nil
}

func (d *decoder) sp() error { return d.expect(' ') }

// crlf ends a command line; a bare LF is accepted, as most servers do.
func (d *decoder) crlf() error {
	d.accept('\r')
	return d.expect('\n')
}

// end reads the end of a command.
func (d *decoder) end() error {
	if err := d.crlf(); err != nil {
		return err
	}
	d.lineDone = true
	return nil
}

// acceptFold consumes word (case-insensitive) if it comes next, followed
// by something that cannot continue an atom.
func (d *decoder) acceptFold(word string) bool {
	// Peek one byte more at a time: a longer Peek would wait for bytes
	// past the end of the line, which may never come.
	for i := 1; i <= len(word)+1; i++ {
		b, err := d.r.Peek(i)
		if err != nil {
			return false
		}
		c := b[i-1]
		if i > len(word) {
			if isAtomChar(c) {
				return false
			}
			break
		}
		if c|0x20 != word[i-1]|0x20 || !isAtomChar(c) {
			return false
		}
	}
	d.r.Discard(len(word))
	return true
}

// nstring reads a string or NIL ("").
func (d *decoder) nstring() (string, error) {
	if d.acceptFold("NIL") {
		return "", nil
	}
	return d.str()
}

// atEOL reports whether the line ends next.
func (d *decoder) atEOL() bool {
	b, err := d.peek()
	return err == nil && (b == '\r' || b == '\n')
}

func isAtomChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// readWhile reads the longest run of bytes satisfying ok, at most limit.
func (d *decoder) readWhile(ok func(byte) bool, limit int) (string, error) {
	var b strings.Builder
	for {
		c, err := d.peek()
		if err != nil {
			if b.Len() > 0 && err == io.EOF {
				return b.String(), nil
			}
			return "", err
		}
		if !ok(c) {
			return b.String(), nil
		}
		if b.Len() >= limit {
			return "", badf("token too long")
		}
		d.r.ReadByte()
		b.WriteByte(c)
	}
}

const maxToken = 64 << 10

// atom reads an atom (RFC 9051 "atom").
func (d *decoder) atom() (string, error) {
	s, err := d.readWhile(isAtomChar, maxToken)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", badf("expected an atom")
	}
	return s, nil
}

// tag reads a command tag: astring characters except "+".
func (d *decoder) tag() (string, error) {
	s, err := d.readWhile(func(c byte) bool { return (isAtomChar(c) || c == ']') && c != '+' }, maxTagLen)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", badf("missing tag")
	}
	return s, nil
}

// astring reads an atom (with "]" allowed), a quoted string or a literal.
func (d *decoder) astring() (string, error) {
	c, err := d.peek()
	if err != nil {
		return "", err
	}
	if c == '"' || c == '{' || c == '~' {
		return d.str()
	}
	s, err := d.readWhile(func(c byte) bool { return isAtomChar(c) || c == ']' }, maxToken)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", badf("expected a string")
	}
	return s, nil
}

// listMailbox reads LIST's pattern: list-char atoms ("%" and "*" allowed)
// or a string.
func (d *decoder) listMailbox() (string, error) {
	c, err := d.peek()
	if err != nil {
		return "", err
	}
	if c == '"' || c == '{' {
		return d.str()
	}
	s, err := d.readWhile(func(c byte) bool { return isAtomChar(c) || c == ']' || c == '%' || c == '*' }, maxToken)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", badf("expected a mailbox pattern")
	}
	return s, nil
}

// str reads a quoted string or a literal into memory.
func (d *decoder) str() (string, error) {
	c, err := d.peek()
	if err != nil {
		return "", err
	}
	if c == '"' {
		return d.quoted()
	}
	size, _, err := d.literalHeader()
	if err != nil {
		return "", err
	}
	if size > maxMemLiteral {
		return "", badf("literal too large")
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(d.r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

func (d *decoder) quoted() (string, error) {
	if err := d.expect('"'); err != nil {
		return "", err
	}
	var b strings.Builder
	for {
		c, err := d.readByte()
		if err != nil {
			return "", err
		}
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			c, err = d.readByte()
			if err != nil {
				return "", err
			}
			if c != '"' && c != '\\' {
				return "", badf("bad escape in quoted string")
			}
		case '\r', '\n':
			d.r.UnreadByte()
			return "", badf("unterminated quoted string")
		}
		if b.Len() >= maxToken {
			return "", badf("quoted string too long")
		}
		b.WriteByte(c)
	}
}

// literalHeader reads "{n}", "{n+}" or "~{n}" and the line end after it,
// and for a synchronising literal sends the continuation request, unless
// the literal is refused (before authentication, beyond preAuthLiteral).
// It returns the size and whether it was literal8 ("~").
func (d *decoder) literalHeader() (size int64, binary bool, err error) {
	binary = d.accept('~')
	if err := d.expect('{'); err != nil {
		return 0, false, err
	}
	digits, err := d.readWhile(func(c byte) bool { return c >= '0' && c <= '9' }, 19)
	if err != nil {
		return 0, false, err
	}
	size, perr := strconv.ParseInt(digits, 10, 64)
	if digits == "" || perr != nil {
		return 0, false, badf("bad literal size")
	}
	nonSync := d.accept('+')
	if !nonSync {
		d.accept('-') // never sent by clients; tolerated
	}
	if err := d.expect('}'); err != nil {
		return 0, false, err
	}
	if err := d.crlf(); err != nil {
		return 0, false, err
	}
	if d.preAuth && size > preAuthLiteral {
		if nonSync {
			// The bytes are on their way and cannot be answered in
			// line; limitReader bounds them, discardLiteral drops them.
			if err := d.discard(size); err != nil {
				return 0, false, err
			}
		}
		d.refused = !nonSync
		return 0, false, &syntaxError{msg: "Literal too large before authentication", code: imap.ResponseCodeTooBig}
	}
	if !nonSync {
		if err := d.cont(); err != nil {
			return 0, false, err
		}
	}
	return size, binary, nil
}

func (d *decoder) discard(n int64) error {
	_, err := io.CopyN(io.Discard, d.r, n)
	return err
}

// discardCommand skips the rest of a command after a syntax error: the
// rest of the line and, where the line announces a literal, the literal
// and the line after it. A synchronising literal is never sent (the client
// waits for a continuation that does not come), so skipping stops there.
func (d *decoder) discardCommand() error {
	if d.refused {
		d.refused = false
		return nil
	}
	var tail []byte
	for {
		c, err := d.readByte()
		if err != nil {
			return err
		}
		if c != '\n' {
			tail = append(tail, c)
			if len(tail) > 32 {
				tail = tail[len(tail)-32:]
			}
			continue
		}
		size, nonSync, ok := literalSuffix(tail)
		if !ok || !nonSync {
			return nil
		}
		if d.preAuth && size > preAuthLiteral {
			return errPreAuthLiteral
		}
		if err := d.discard(size); err != nil {
			return err
		}
		tail = tail[:0]
	}
}

func (d *decoder) number() (uint32, error) {
	s, err := d.readWhile(func(c byte) bool { return c >= '0' && c <= '9' }, 10)
	if err != nil {
		return 0, err
	}
	n, perr := strconv.ParseUint(s, 10, 32)
	if s == "" || perr != nil {
		return 0, badf("expected a number")
	}
	return uint32(n), nil
}

func (d *decoder) number64() (uint64, error) {
	s, err := d.readWhile(func(c byte) bool { return c >= '0' && c <= '9' }, 20)
	if err != nil {
		return 0, err
	}
	n, perr := strconv.ParseUint(s, 10, 63)
	if s == "" || perr != nil {
		return 0, badf("expected a number")
	}
	return n, nil
}

// list reads "(" [item *(SP item)] ")", calling item for each element.
func (d *decoder) list(item func() error) error {
	if err := d.expect('('); err != nil {
		return err
	}
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxNesting {
		return badf("too deeply nested")
	}
	if d.accept(')') {
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		if d.accept(')') {
			return nil
		}
		if err := d.sp(); err != nil {
			return err
		}
	}
}

// flag reads a flag: an atom, optionally "\"-prefixed ("\*" allowed for
// PERMANENTFLAGS-like uses is refused by the caller).
func (d *decoder) flag() (string, error) {
	if d.accept('\\') {
		if d.accept('*') {
			return `\*`, nil
		}
		a, err := d.atom()
		return `\` + a, err
	}
	return d.atom()
}

func (d *decoder) flagList() ([]imap.Flag, error) {
	var out []imap.Flag
	err := d.list(func() error {
		f, err := d.flag()
		out = append(out, imap.Flag(f))
		return err
	})
	return out, err
}

// numSet reads a sequence set ("1,3:5,7:*") or "$" (SEARCHRES).
func (d *decoder) numSet(uid bool) (imap.NumSet, error) {
	if d.accept('$') {
		if uid {
			return imap.SearchRes(), nil
		}
		return imap.SearchRes(), nil
	}
	var seq imap.SeqSet
	var uids imap.UIDSet
	for {
		start, err := d.seqNumber()
		if err != nil {
			return nil, err
		}
		stop := start
		if d.accept(':') {
			if stop, err = d.seqNumber(); err != nil {
				return nil, err
			}
		}
		seq = append(seq, imap.SeqRange{Start: start, Stop: stop})
		uids = append(uids, imap.UIDRange{Start: imap.UID(start), Stop: imap.UID(stop)})
		if len(seq) > maxSetRanges {
			return nil, badf("sequence set too long")
		}
		if !d.accept(',') {
			break
		}
	}
	if uid {
		return uids, nil
	}
	return seq, nil
}

// qresyncParams reads "(" uidvalidity SP modseq [SP known-uids [SP
// seq-match-data]] ")". The sequence match data only narrows what the
// server would otherwise report, so it is read and not used.
func (d *decoder) qresyncParams() (*qresyncParams, error) {
	p := &qresyncParams{}
	if err := d.expect('('); err != nil {
		return nil, err
	}
	var err error
	if p.uidValidity, err = d.number(); err != nil {
		return nil, err
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	if p.modseq, err = d.number64(); err != nil {
		return nil, err
	}
	if d.accept(' ') {
		set, err := d.numSet(true)
		if err != nil {
			return nil, err
		}
		known, ok := set.(imap.UIDSet)
		if !ok {
			return nil, badf("known-uids cannot be $")
		}
		p.known = known
		if d.accept(' ') {
			if err := d.list(func() error {
				_, err := d.numSet(false)
				if err == nil && d.accept(' ') {
					_, err = d.numSet(false)
				}
				return err
			}); err != nil {
				return nil, err
			}
		}
	}
	return p, d.expect(')')
}

// maxSetRanges bounds the ranges of one sequence set.
const maxSetRanges = 10000

// seqNumber reads a nz-number or "*" (returned as 0).
func (d *decoder) seqNumber() (uint32, error) {
	if d.accept('*') {
		return 0, nil
	}
	n, err := d.number()
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, badf("sequence number 0")
	}
	return n, nil
}

var months = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// date reads a SEARCH date: d-MMM-yyyy, optionally quoted.
func (d *decoder) date() (time.Time, error) {
	q := d.accept('"')
	s, err := d.readWhile(func(c byte) bool { return c == '-' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z') }, 12)
	if err != nil {
		return time.Time{}, err
	}
	if q {
		if err := d.expect('"'); err != nil {
			return time.Time{}, err
		}
	}
	t, ok := parseDate(s)
	if !ok {
		return time.Time{}, badf("bad date %q", s)
	}
	return t, nil
}

func parseDate(s string) (time.Time, bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	day, err1 := strconv.Atoi(parts[0])
	year, err2 := strconv.Atoi(parts[2])
	mon := -1
	for i, m := range months {
		if strings.EqualFold(parts[1], m) {
			mon = i
		}
	}
	if err1 != nil || err2 != nil || mon < 0 || day < 1 || day > 31 || len(parts[2]) != 4 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(mon+1), day, 0, 0, 0, 0, time.UTC), true
}

// dateTime reads APPEND's date-time: "dd-MMM-yyyy hh:mm:ss +zzzz".
func (d *decoder) dateTime() (time.Time, error) {
	s, err := d.quoted()
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse("_2-Jan-2006 15:04:05 -0700", strings.TrimSpace(s))
	if err != nil {
		if t, err = time.Parse("2-Jan-2006 15:04:05 -0700", strings.TrimSpace(s)); err != nil {
			return time.Time{}, badf("bad date-time %q", s)
		}
	}
	return t, nil
}
