package imap

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
)

// limitReader sits between a client connection and the command decoder
// and enforces request-size limits before the decoder sees a byte. It
// tracks IMAP syntax just enough to know where commands begin and end:
//
//	command  = line *(literal line)
//	line     = *OCTET [ ["~"] "{" number ["+"] "}" ] [CR] LF
//	literal  = number OCTETs, announced at the end of the line before it
//
// Every line is held back until its LF has arrived, then checked and
// released; literal bytes that are within the limits pass straight
// through. The checks, per command:
//
//   - the command's bytes outside literals stay within lim.line;
//   - a literal outside APPEND's message is at most lim.literal (the
//     decoder reads those into memory), and the command with its
//     literals stays within lim.request;
//   - APPEND's message literal (any literal of an APPEND command except a
//     mailbox name right after "APPEND ") is at most lim.message.
//
// A command rejected on its first line never reaches the decoder: the
// reader answers it itself, "tag BAD [TOOBIG] ..." (NO [TOOBIG] for an
// APPEND message, RFC 7889). A synchronising literal is answered at once,
// so the client never waits for a continuation; a LITERAL+ literal and
// the rest of the command are read and dropped, at most lim.discard
// bytes (twice the larger of lim.request and lim.message), and then
// answered. Once part of a command has been released the
// decoder is mid-command and cannot be resynchronised, so a
// violation there (a later literal, an overlong continuation line), like
// a LITERAL+ literal beyond lim.discard, ends the connection with
// "* BYE [TOOBIG] ...". Read then fails with net.ErrClosed.
//
// The reader only ever drops bytes, never adds or reorders them, and it
// processes input only when the decoder asks for more, that is after the
// connection has answered every command released before; its own answers
// therefore come in order.
type limitReader struct {
	src     io.Reader
	lim     requestLimits
	respond func(line string) error // writes one response line (CRLF included)
	// startTLS, when set, is offered a complete "tag STARTTLS" first line
	// together with the input already read after it; if it returns true
	// it has answered and taken the connection over, and Read returns
	// io.EOF from then on.
	startTLS func(tag string, rest []byte) bool

	buf []byte // backing array of in
	in  []byte // input read from src, not yet released or dropped
	out []byte // released bytes not yet read by the decoder
	lit int64  // bytes of a released literal still to pass through
	err error  // sticky: io.EOF after STARTTLS or src's error, net.ErrClosed after BYE

	// The current command.
	lines     int // lines of it already released
	tag       string
	appendCmd bool
	nonLit    int64 // bytes outside literals
	total     int64 // bytes counted against lim.request

	// A rejected command being dropped.
	rejecting bool
	reply     string // tagged answer once it ends
	drop      int64  // literal bytes still to drop
	dropped   int64  // bytes dropped so far, against lim.discard
	tail      []byte // last bytes of the dropped line, to spot a literal
}

// requestLimits are the bounds a limitReader enforces; see limitReader.
type requestLimits struct {
	line    int64
	literal int64
	request int64
	message int64
	discard int64
}

const (
	maxCommandLine = 50 * 1024 // bytes of one command outside literals
	maxLiteral     = 4096      // a literal read into memory (anything but an APPEND message)
	maxTagLen      = 64
	readChunk      = 4096
)

// newRequestLimits derives the reader's bounds from MaxRequestSize and
// AppendLimit.
func newRequestLimits(maxRequest int64, appendLimit uint32) requestLimits {
	l := requestLimits{line: maxCommandLine, literal: maxLiteral, request: maxRequest, message: int64(appendLimit)}
	l.line = min(l.line, l.request)
	l.literal = min(l.literal, l.request)
	l.discard = 2 * max(l.request, l.message)
	return l
}

var errTooBig = fmt.Errorf("imap: request too big: %w", net.ErrClosed)

func newLimitReader(src io.Reader, lim requestLimits, respond func(string) error) *limitReader {
	return &limitReader{src: src, lim: lim, respond: respond}
}

// Read implements io.Reader for the decoder.
func (r *limitReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(r.out) > 0 {
			n := copy(p, r.out)
			r.out = r.out[n:]
			return n, nil
		}
		if r.lit > 0 {
			return r.passLiteral(p)
		}
		if r.err != nil {
			return 0, r.err
		}
		if err := r.step(); err != nil {
			r.err = err
		}
	}
}

// passLiteral hands literal bytes to the decoder, from the held input
// first, then straight from src.
func (r *limitReader) passLiteral(p []byte) (int, error) {
	if int64(len(p)) > r.lit {
		p = p[:r.lit]
	}
	if len(r.in) > 0 {
		n := copy(p, r.in)
		r.in = r.in[n:]
		r.lit -= int64(n)
		return n, nil
	}
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.src.Read(p)
	r.lit -= int64(n)
	if err != nil {
		r.err = err
		if n > 0 {
			err = nil
		}
	}
	return n, err
}

// fill reads more input from src into r.in.
func (r *limitReader) fill() error {
	if len(r.in) == 0 {
		r.in = r.buf[:0]
	}
	if cap(r.in)-len(r.in) < readChunk {
		need := len(r.in) + readChunk
		if cap(r.buf) >= need {
			n := copy(r.buf[:len(r.in)], r.in)
			r.in = r.buf[:n]
		} else {
			grown := make([]byte, len(r.in), need+need/2)
			copy(grown, r.in)
			r.in, r.buf = grown, grown
		}
	}
	n, err := r.src.Read(r.in[len(r.in):cap(r.in)])
	r.in = r.in[:len(r.in)+n]
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// step advances the state machine by one decision, possibly reading
// input. It leaves released bytes in r.out or sets r.lit.
func (r *limitReader) step() error {
	if r.drop > 0 {
		return r.dropLiteral()
	}
	if r.rejecting {
		return r.dropLine()
	}
	i := bytes.IndexByte(r.in, '\n')
	if i < 0 {
		if int64(len(r.in)) > r.lim.line-r.nonLit {
			return r.violation(fmt.Sprintf("Command line exceeds the %d byte limit", r.lim.line), false, 0)
		}
		return r.fill()
	}
	line := r.in[:i+1]
	if int64(len(line)) > r.lim.line-r.nonLit {
		return r.violation(fmt.Sprintf("Command line exceeds the %d byte limit", r.lim.line), false, len(line))
	}
	if r.lines == 0 {
		r.tag, r.appendCmd = commandStart(line)
		if r.startTLS != nil && isStartTLS(line) && r.startTLS(r.tag, r.in[i+1:]) {
			r.in = nil
			return io.EOF
		}
	}
	size, _, ok := literalSuffix(line)
	if !ok {
		r.release(line)
		r.endCommand()
		return nil
	}
	message := r.appendCmd && !(r.lines == 0 && mailboxLiteral(line))
	switch {
	case message && size > r.lim.message:
		return r.violation(fmt.Sprintf("Message exceeds the %d byte limit", r.lim.message), true, len(line))
	case !message && (size > r.lim.literal || r.total+int64(len(line))+size > r.lim.request):
		return r.violation(fmt.Sprintf("Request exceeds the %d byte limit (literals outside APPEND: %d bytes)", r.lim.request, r.lim.literal), false, len(line))
	}
	r.release(line)
	if !message {
		r.total += size
	}
	r.lit = size
	r.lines++
	return nil
}

// release hands a checked line to the decoder.
func (r *limitReader) release(line []byte) {
	r.out = append(r.out[:0], line...)
	r.in = r.in[len(line):]
	r.nonLit += int64(len(line))
	r.total += int64(len(line))
}

func (r *limitReader) endCommand() {
	r.lines, r.tag, r.appendCmd, r.nonLit, r.total = 0, "", false, 0, 0
}

type literalAnnounce struct {
	size    int64
	nonSync bool
}

// violation rejects the current command. lineLen is the length of the
// complete line at the head of r.in, or 0 when the line is too long to
// wait for its end (then everything held is dropped).
func (r *limitReader) violation(text string, message bool, lineLen int) error {
	if r.lines > 0 {
		return r.bye(text)
	}
	held := r.in
	if lineLen > 0 {
		held = r.in[:lineLen]
	}
	r.tag, _ = commandStart(held[:min(len(held), 2*maxTagLen)])
	status := "BAD"
	if message {
		status = "NO"
	}
	r.reply = fmt.Sprintf("%s %s [TOOBIG] %s\r\n", r.tag, status, text)
	if r.tag == "" {
		r.reply = fmt.Sprintf("* BAD [TOOBIG] %s\r\n", text)
	}
	r.rejecting = true
	if lineLen == 0 {
		r.dropped += int64(len(r.in))
		r.keepTail(r.in)
		r.in = r.in[:0]
		return r.checkDiscard()
	}
	r.dropped += int64(lineLen)
	r.keepTail(r.in[:lineLen])
	r.in = r.in[lineLen:]
	if size, nonSync, ok := literalSuffix(r.tail); ok {
		return r.dropAfterLiteral(literalAnnounce{size, nonSync})
	}
	return r.finishReject()
}

// dropAfterLiteral continues a rejected command after a literal
// announcement: a synchronising literal is never sent, so the command
// ends here; a LITERAL+ literal is on its way and is dropped.
func (r *limitReader) dropAfterLiteral(lit literalAnnounce) error {
	if !lit.nonSync {
		return r.finishReject()
	}
	if lit.size > r.lim.discard-r.dropped {
		return r.bye(fmt.Sprintf("Literal of %d bytes exceeds the %d byte limit", lit.size, r.lim.discard))
	}
	r.drop = lit.size
	r.dropped += lit.size
	r.tail = r.tail[:0]
	return nil
}

func (r *limitReader) dropLiteral() error {
	if len(r.in) == 0 {
		if err := r.fill(); err != nil {
			return err
		}
	}
	n := min(int64(len(r.in)), r.drop)
	r.in = r.in[n:]
	r.drop -= n
	return nil
}

// dropLine drops the rest of a rejected command's line.
func (r *limitReader) dropLine() error {
	if len(r.in) == 0 {
		if err := r.fill(); err != nil {
			return err
		}
	}
	i := bytes.IndexByte(r.in, '\n')
	if i < 0 {
		r.dropped += int64(len(r.in))
		r.keepTail(r.in)
		r.in = r.in[:0]
		return r.checkDiscard()
	}
	r.dropped += int64(i + 1)
	r.keepTail(r.in[:i+1])
	r.in = r.in[i+1:]
	if size, nonSync, ok := literalSuffix(r.tail); ok {
		return r.dropAfterLiteral(literalAnnounce{size, nonSync})
	}
	return r.finishReject()
}

func (r *limitReader) checkDiscard() error {
	if r.dropped > r.lim.discard {
		return r.bye(fmt.Sprintf("Command exceeds the %d byte limit", r.lim.discard))
	}
	return nil
}

// keepTail remembers the last bytes of a dropped line, enough for the
// longest literal announcement.
func (r *limitReader) keepTail(b []byte) {
	const keep = 32
	r.tail = append(r.tail, b[max(0, len(b)-keep):]...)
	if len(r.tail) > keep {
		r.tail = append(r.tail[:0], r.tail[len(r.tail)-keep:]...)
	}
}

func (r *limitReader) finishReject() error {
	reply := r.reply
	r.rejecting, r.reply, r.drop, r.dropped, r.tail = false, "", 0, 0, r.tail[:0]
	r.endCommand()
	if err := r.respond(reply); err != nil {
		return err
	}
	return nil
}

// bye ends the connection: the stream cannot be resynchronised.
func (r *limitReader) bye(text string) error {
	_ = r.respond("* BYE [TOOBIG] " + text + "\r\n")
	r.in, r.out, r.lit = nil, nil, 0
	return errTooBig
}

// literalSuffix parses a literal announcement ("{n}", "{n+}") ending a
// line (LF or CRLF).
func literalSuffix(line []byte) (size int64, nonSync, ok bool) {
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if !bytes.HasSuffix(line, []byte("}")) {
		return 0, false, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false, false
	}
	num := line[open+1 : len(line)-1]
	if bytes.HasSuffix(num, []byte("+")) {
		num, nonSync = num[:len(num)-1], true
	}
	if len(num) == 0 || len(num) > 19 {
		return 0, false, false
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, false, false
		}
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		return 0, false, false
	}
	return n, nonSync, true
}

// commandStart returns a command's tag ("" when it is not a valid tag)
// and whether it is APPEND.
func commandStart(line []byte) (tag string, isAppend bool) {
	f := bytes.Fields(line)
	if len(f) > 0 && validTag(f[0]) {
		tag = string(f[0])
	}
	return tag, len(f) > 1 && bytes.EqualFold(f[1], []byte("APPEND"))
}

func validTag(t []byte) bool {
	if len(t) == 0 || len(t) > maxTagLen {
		return false
	}
	for _, c := range t {
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`(){%*"\]+`), c) >= 0 {
			return false
		}
	}
	return true
}

// mailboxLiteral reports whether the literal announced at the end of an
// APPEND command's first line stands for the mailbox name ("tag APPEND
// {n}"), not the message.
func mailboxLiteral(line []byte) bool {
	open := bytes.LastIndexByte(line, '{')
	return len(bytes.Fields(line[:open])) == 2
}

func isStartTLS(line []byte) bool {
	f := bytes.Fields(line)
	return len(f) == 2 && bytes.EqualFold(f[1], []byte("STARTTLS"))
}
