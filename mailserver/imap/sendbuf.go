package imap

import (
	"io"
	"net"
	"strconv"
	"sync"
)

// sendBufSize is the output buffer of a connection while it has
// something to send: a command's untagged responses and its tagged one
// go out in one write when they fit (conn.hold).
const sendBufSize = 32 << 10

// directMin is the smallest write that goes to the connection together
// with the buffered bytes, when both would not fit the buffer, instead of
// being copied through it (message bodies of a FETCH).
const directMin = 4 << 10

// sendBufs holds the empty output buffers of every connection.
var sendBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, sendBufSize)
	return &b
}}

// sendBuf buffers a connection's output as a bufio.Writer of sendBufSize
// would, but holds a buffer only while it has data: Flush returns the
// emptied buffer to sendBufs. A session waiting for its next command or
// resting in IDLE then holds no output buffer, which is most of a
// connected client's memory (32 KiB of 70 with a bufio.Writer; see
// docs/BENCHMARKS.md, IMAP, sessions in IDLE).
//
// As with bufio.Writer, an error is sticky: every later call returns it.
type sendBuf struct {
	w   io.Writer
	buf *[]byte // nil while empty
	err error
	vec [2][]byte // a gathered write's buffers (a field: no allocation)
}

func newSendBuf(w io.Writer) *sendBuf { return &sendBuf{w: w} }

// Reset drops what is buffered and any error and writes to w from now on.
func (b *sendBuf) Reset(w io.Writer) {
	b.release()
	b.w, b.err = w, nil
}

// Buffered is the number of bytes waiting for Flush.
func (b *sendBuf) Buffered() int {
	if b.buf == nil {
		return 0
	}
	return len(*b.buf)
}

// Flush writes what is buffered and gives the buffer back.
func (b *sendBuf) Flush() error {
	if b.err != nil {
		return b.err
	}
	if b.buf == nil {
		return nil
	}
	if len(*b.buf) > 0 {
		n, err := b.w.Write(*b.buf)
		if err == nil && n < len(*b.buf) {
			err = io.ErrShortWrite
		}
		if err != nil {
			b.err = err
			return err
		}
	}
	b.release()
	return nil
}

func (b *sendBuf) release() {
	if b.buf != nil {
		*b.buf = (*b.buf)[:0]
		sendBufs.Put(b.buf)
		b.buf = nil
	}
}

// room returns the buffer's free space, taking a buffer from the pool
// if none is held.
func (b *sendBuf) room() []byte {
	if b.buf == nil {
		b.buf = sendBufs.Get().(*[]byte)
	}
	buf := *b.buf
	return buf[len(buf):cap(buf)]
}

func (b *sendBuf) grow(n int) {
	*b.buf = (*b.buf)[:len(*b.buf)+n]
}

func (b *sendBuf) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if b.err != nil {
			return written, b.err
		}
		if b.Buffered() == 0 && len(p) >= sendBufSize {
			// Nothing waits before it and it would fill the buffer:
			// straight to the connection, as bufio.Writer does.
			n, err := b.w.Write(p)
			if err != nil {
				b.err = err
			}
			return written + n, err
		}
		if n := b.Buffered(); len(p) >= directMin && n+len(p) > sendBufSize {
			// A large part of a message that would not fit: what is
			// buffered and p in one gathered write (writev on TCP),
			// instead of copying p through the buffer.
			b.vec = [2][]byte{*b.buf, p}
			bufs := net.Buffers(b.vec[:])
			m, err := bufs.WriteTo(b.w)
			b.vec = [2][]byte{}
			if err != nil {
				b.err = err
				return written + max(int(m)-n, 0), err
			}
			b.release()
			return written + len(p), nil
		}
		n := copy(b.room(), p)
		b.grow(n)
		written += n
		p = p[n:]
		if len(p) > 0 {
			if err := b.Flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (b *sendBuf) WriteString(s string) (int, error) {
	written := 0
	for len(s) > 0 {
		if b.err != nil {
			return written, b.err
		}
		n := copy(b.room(), s)
		b.grow(n)
		written += n
		s = s[n:]
		if len(s) > 0 {
			if err := b.Flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// WriteUint writes n in decimal, straight into the buffer.
func (b *sendBuf) WriteUint(n uint64) error {
	if b.err != nil {
		return b.err
	}
	if len(b.room()) < 20 {
		if err := b.Flush(); err != nil {
			return err
		}
		b.room()
	}
	*b.buf = strconv.AppendUint(*b.buf, n, 10)
	return nil
}

func (b *sendBuf) WriteByte(c byte) error {
	if b.err != nil {
		return b.err
	}
	if len(b.room()) == 0 {
		if err := b.Flush(); err != nil {
			return err
		}
	}
	b.room()
	*b.buf = append(*b.buf, c)
	return nil
}
