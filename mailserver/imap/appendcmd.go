package imap

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// appendMemMax is the largest APPEND message kept in memory while it
// arrives; a larger one is spooled to a private temporary file, so a slow
// or stalled upload holds a file, not memory.
const appendMemMax = 64 << 10

// maxMultiAppend bounds the messages of one MULTIAPPEND command.
const maxMultiAppend = 1000

// appendSpool is one message of an APPEND command, in memory or spooled.
type appendSpool struct {
	opts imap.AppendOptions
	mem  []byte
	file *os.File
	size int64
}

func (m *appendSpool) bytes() ([]byte, error) {
	if m.file == nil {
		return m.mem, nil
	}
	b := make([]byte, m.size)
	if _, err := m.file.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read spooled message: %w", err)
	}
	return b, nil
}

func (m *appendSpool) release() {
	if m.file != nil {
		name := m.file.Name()
		m.file.Close()
		os.Remove(name)
		m.file = nil
	}
}

// cmdAppend answers APPEND, with MULTIAPPEND (RFC 3502): several
// messages in one command, stored all or none.
//
//	APPEND SP mailbox 1*([SP flag-list] [SP date-time] SP literal)
func (c *conn) cmdAppend(tag string, uid bool) error {
	name, err := c.mailboxArg()
	if err != nil {
		return err
	}
	var msgs []*appendSpool
	defer func() {
		for _, m := range msgs {
			m.release()
		}
	}()
	for {
		if len(msgs) >= maxMultiAppend {
			return badf("too many messages in one APPEND")
		}
		m, err := c.appendMessage()
		if m != nil {
			msgs = append(msgs, m)
		}
		if err != nil {
			return err
		}
		if !c.dec.accept(' ') {
			break
		}
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	uv, uids, err := c.sess.AppendAll(name, msgs)
	if err != nil {
		return err
	}
	c.okCode = "APPENDUID"
	c.okArgs = itoa(uint64(uv)) + " " + uids.String()
	return nil
}

// appendMessage reads one message: SP [flag-list SP] [date-time SP]
// literal.
func (c *conn) appendMessage() (*appendSpool, error) {
	if err := c.dec.sp(); err != nil {
		return nil, err
	}
	m := &appendSpool{}
	if b, _ := c.dec.peek(); b == '(' {
		fl, err := c.dec.flagList()
		if err != nil {
			return nil, err
		}
		m.opts.Flags = fl
		if err := c.dec.sp(); err != nil {
			return nil, err
		}
	}
	if b, _ := c.dec.peek(); b == '"' {
		t, err := c.dec.dateTime()
		if err != nil {
			return nil, err
		}
		m.opts.Time = t
		if err := c.dec.sp(); err != nil {
			return nil, err
		}
	}
	if c.dec.acceptFold("UTF8") {
		// RFC 6855 "UTF8 (~{n}...)": the message is a literal8 in
		// parentheses.
		if err := c.dec.sp(); err != nil {
			return nil, err
		}
		if err := c.dec.expect('('); err != nil {
			return nil, err
		}
		if err := c.readAppendLiteral(m); err != nil {
			return m, err
		}
		return m, c.dec.expect(')')
	}
	return m, c.readAppendLiteral(m)
}

func (c *conn) readAppendLiteral(m *appendSpool) error {
	b, err := c.dec.peek()
	if err != nil {
		return err
	}
	if b != '{' && b != '~' {
		return badf("expected a message literal")
	}
	size, _, err := c.dec.literalHeader()
	if err != nil {
		return err
	}
	m.size = size
	if size <= appendMemMax {
		m.mem = make([]byte, size)
		if n, err := io.ReadFull(c.dec.r, m.mem); err != nil {
			return fmt.Errorf("append: literal ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
		}
		return nil
	}
	f, err := os.CreateTemp(c.srv.opts.TempDir, "tidemark-append-*")
	if err != nil {
		// Drain the literal so the session can answer and go on.
		if derr := c.dec.discard(size); derr != nil {
			return derr
		}
		c.srv.log.Error("imap: spool APPEND", "err", err)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Cannot store the message now"}
	}
	m.file = f
	n, err := io.CopyN(f, c.dec.r, size)
	if err != nil {
		if n < size && !isWriteErr(err, f) {
			return fmt.Errorf("append: literal ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
		}
		if derr := c.dec.discard(size - n); derr != nil {
			return derr
		}
		c.srv.log.Error("imap: spool APPEND", "err", err)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Cannot store the message now"}
	}
	return nil
}

// isWriteErr reports whether err came from writing the spool file.
func isWriteErr(err error, f *os.File) bool {
	var pe *os.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Path, f.Name())
}
