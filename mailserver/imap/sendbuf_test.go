package imap

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestSendBufMatchesBufio: any mix of writes and flushes sends the same
// bytes in the same order as a bufio.Writer would, and an empty sendBuf
// holds no buffer.
func TestSendBufMatchesBufio(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		var got, want bytes.Buffer
		b := newSendBuf(&got)
		for op := 0; op < 50; op++ {
			size := rnd.IntN(3 * sendBufSize / 2)
			if rnd.IntN(4) > 0 {
				size = rnd.IntN(200)
			}
			p := make([]byte, size)
			for i := range p {
				p[i] = byte(rnd.IntN(256))
			}
			switch rnd.IntN(5) {
			case 4:
				n := rnd.Uint64() >> rnd.IntN(64)
				if err := b.WriteUint(n); err != nil {
					t.Fatal(err)
				}
				fmt.Fprint(&want, n)
			case 0:
				if _, err := b.Write(p); err != nil {
					t.Fatal(err)
				}
				want.Write(p)
			case 1:
				if _, err := b.WriteString(string(p)); err != nil {
					t.Fatal(err)
				}
				want.Write(p)
			case 2:
				if err := b.WriteByte(byte(op)); err != nil {
					t.Fatal(err)
				}
				want.WriteByte(byte(op))
			case 3:
				if err := b.Flush(); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Bytes(), want.Bytes()) {
					t.Fatalf("round %d op %d: after Flush %d bytes sent, want %d (or different bytes)", round, op, got.Len(), want.Len())
				}
				if b.buf != nil || b.Buffered() != 0 {
					t.Fatalf("round %d: flushed sendBuf still holds a buffer", round)
				}
			}
			if b.Buffered() > sendBufSize {
				t.Fatalf("buffered %d > %d", b.Buffered(), sendBufSize)
			}
			if got.Len()+b.Buffered() != want.Len() {
				t.Fatalf("round %d op %d: sent %d + buffered %d != written %d", round, op, got.Len(), b.Buffered(), want.Len())
			}
		}
		if err := b.Flush(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("round %d: output differs", round)
		}
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errors.New("connection reset")
	}
	w.n--
	return len(p), nil
}

// TestSendBufErrorSticky: after a failed write every call reports the
// error, as with bufio.Writer, so a dead connection is noticed once and
// for all.
func TestSendBufErrorSticky(t *testing.T) {
	b := newSendBuf(&failWriter{n: 1})
	b.WriteString("a1 OK done\r\n")
	if err := b.Flush(); err != nil {
		t.Fatalf("first flush: %v", err)
	}
	b.WriteString("* 1 EXISTS\r\n")
	if err := b.Flush(); err == nil {
		t.Fatal("second flush: no error from a failed connection")
	}
	if _, err := b.WriteString("x"); err == nil {
		t.Fatal("WriteString after a failure: no error")
	}
	if err := b.WriteByte('x'); err == nil {
		t.Fatal("WriteByte after a failure: no error")
	}
	if _, err := b.Write([]byte(strings.Repeat("x", 2*sendBufSize))); err == nil {
		t.Fatal("large Write after a failure: no error")
	}
	b.Reset(&bytes.Buffer{})
	if _, err := b.WriteString("ok"); err != nil || b.Flush() != nil {
		t.Fatal("Reset did not clear the error")
	}
}
