package imap

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// chunkReader returns its input in reads of at most n bytes, as a
// network connection does.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}

var testLimits = requestLimits{line: 64, literal: 16, request: 100, message: 200, discard: 400}

// runLimit feeds in through a limitReader and returns what the library
// would read, the reader's own answers and the final error.
func runLimit(in []byte, lim requestLimits, chunk int, tls func(string, []byte) bool) (out []byte, resp []string, err error) {
	r := newLimitReader(&chunkReader{b: in, n: chunk}, lim, func(s string) error {
		resp = append(resp, s)
		return nil
	})
	r.startTLS = tls
	buf := make([]byte, 1+chunk%7)
	for {
		n, e := r.Read(buf)
		out = append(out, buf[:n]...)
		if e != nil {
			if e == io.EOF {
				e = nil
			}
			return out, resp, e
		}
	}
}

func TestLimitReader(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name, in, out string
		resp          []string // prefixes
		bye           bool
	}{
		{"plain commands", "a NOOP\r\nb CAPABILITY\r\n", "a NOOP\r\nb CAPABILITY\r\n", nil, false},
		{"bare LF", "a NOOP\nb NOOP\n", "a NOOP\nb NOOP\n", nil, false},
		{"long line", "a SEARCH " + x(100) + "\r\nb NOOP\r\n", "b NOOP\r\n", []string{"a BAD [TOOBIG] Command line"}, false},
		{"long line ending in literal+", "a SEARCH " + x(100) + " {5+}\r\n12345 x\r\nb NOOP\r\n", "b NOOP\r\n", []string{"a BAD [TOOBIG]"}, false},
		{"long line, no tag", "(" + x(100) + "\r\nb NOOP\r\n", "b NOOP\r\n", []string{"* BAD [TOOBIG]"}, false},
		{"literal within", "a LOGIN {5}\r\nalice pw\r\n", "a LOGIN {5}\r\nalice pw\r\n", nil, false},
		{"sync literal too big", "a LOGIN {20}\r\nb NOOP\r\n", "b NOOP\r\n", []string{"a BAD [TOOBIG] Request"}, false},
		{"literal+ too big", "a LOGIN {20+}\r\n" + x(20) + " pw\r\nb NOOP\r\n", "b NOOP\r\n", []string{"a BAD [TOOBIG]"}, false},
		{"literal+ then sync in rejected", "a LOGIN {20+}\r\n" + x(20) + " {3}\r\nb NOOP\r\n", "b NOOP\r\n", []string{"a BAD [TOOBIG]"}, false},
		{"append within", "a APPEND INBOX (\\Seen) {150}\r\n" + x(150) + "\r\nb NOOP\r\n", "a APPEND INBOX (\\Seen) {150}\r\n" + x(150) + "\r\nb NOOP\r\n", nil, false},
		{"append literal8", "a APPEND INBOX ~{150+}\r\n" + x(150) + "\r\n", "a APPEND INBOX ~{150+}\r\n" + x(150) + "\r\n", nil, false},
		{"append mailbox literal", "a APPEND {5}\r\nINBOX {150}\r\n" + x(150) + "\r\n", "a APPEND {5}\r\nINBOX {150}\r\n" + x(150) + "\r\n", nil, false},
		{"append mailbox literal too big", "a APPEND {50}\r\nb NOOP\r\n", "b NOOP\r\n", []string{"a BAD [TOOBIG]"}, false},
		{"append too big sync", "a APPEND INBOX {300}\r\nb NOOP\r\n", "b NOOP\r\n", []string{"a NO [TOOBIG] Message exceeds the 200 byte limit"}, false},
		{"append too big literal+", "a APPEND INBOX {300+}\r\n" + x(300) + "\r\nb NOOP\r\n", "b NOOP\r\n", []string{"a NO [TOOBIG]"}, false},
		{"append literal+ beyond discard", "a APPEND INBOX {500+}\r\n" + x(500) + "\r\nb NOOP\r\n", "", []string{"* BYE [TOOBIG]"}, true},
		{"mid-command literal", "a LOGIN {5}\r\nalice {20}\r\nb NOOP\r\n", "a LOGIN {5}\r\nalice", []string{"* BYE [TOOBIG]"}, true},
		{"request total", "a SEARCH TEXT {16}\r\n" + x(16) + " TEXT {16}\r\n" + x(16) + " TEXT {16}\r\n" + x(16) + " TEXT {16}\r\n", "a SEARCH TEXT {16}\r\n" + x(16) + " TEXT {16}\r\n" + x(16) + " TEXT {16}\r\n" + x(16), []string{"* BYE [TOOBIG]"}, true},
		{"endless line", "a " + x(2000), "", []string{"* BYE [TOOBIG]"}, true},
		{"partial line at EOF", "a NOOP\r\nb NO", "a NOOP\r\n", nil, false},
	}
	for _, tc := range tests {
		for _, chunk := range []int{1, 3, 4096} {
			out, resp, err := runLimit([]byte(tc.in), testLimits, chunk, nil)
			if string(out) != tc.out {
				t.Errorf("%s/%d: library reads %q, want %q", tc.name, chunk, out, tc.out)
			}
			if len(resp) != len(tc.resp) {
				t.Errorf("%s/%d: answers %q, want %q", tc.name, chunk, resp, tc.resp)
				continue
			}
			for i := range resp {
				if !strings.HasPrefix(resp[i], tc.resp[i]) || !strings.HasSuffix(resp[i], "\r\n") {
					t.Errorf("%s/%d: answer %q, want prefix %q", tc.name, chunk, resp[i], tc.resp[i])
				}
			}
			if gotBye := errors.Is(err, errTooBig); gotBye != tc.bye || (err != nil && !gotBye) {
				t.Errorf("%s/%d: err %v, want bye=%v", tc.name, chunk, err, tc.bye)
			}
		}
	}
}

func TestLimitReaderStartTLS(t *testing.T) {
	var tag, rest string
	out, _, err := runLimit([]byte("a NOOP\r\nb starttls\r\n\x16\x03\x01"), testLimits, 4096, func(tg string, r []byte) bool {
		tag, rest = tg, string(r)
		return true
	})
	if string(out) != "a NOOP\r\n" || err != nil || tag != "b" || rest != "\x16\x03\x01" {
		t.Fatalf("out %q err %v tag %q rest %q", out, err, tag, rest)
	}
	out, _, _ = runLimit([]byte("b STARTTLS\r\nc NOOP\r\n"), testLimits, 3, func(string, []byte) bool { return false })
	if string(out) != "b STARTTLS\r\nc NOOP\r\n" {
		t.Fatalf("declined STARTTLS: library reads %q", out)
	}
}

// checkLimited parses what the library would read and checks every
// command against lim, independently of the reader's own bookkeeping.
func checkLimited(t *testing.T, out []byte, lim requestLimits) {
	t.Helper()
	first, appendCmd := true, false
	var nonLit, total int64
	for len(out) > 0 {
		i := bytes.IndexByte(out, '\n')
		line := out
		if i >= 0 {
			line = out[:i+1]
		}
		out = out[len(line):]
		if first {
			_, appendCmd = commandStart(line)
		}
		nonLit += int64(len(line))
		total += int64(len(line))
		if nonLit > lim.line {
			t.Fatalf("command with %d bytes outside literals passed (limit %d)", nonLit, lim.line)
		}
		size, _, ok := literalSuffix(line)
		if i < 0 || !ok {
			first, nonLit, total = true, 0, 0
			continue
		}
		if appendCmd && !(first && mailboxLiteral(line)) {
			if size > lim.message {
				t.Fatalf("APPEND message literal of %d bytes passed (limit %d)", size, lim.message)
			}
		} else {
			total += size
			if size > lim.literal || total > lim.request {
				t.Fatalf("literal of %d bytes (command total %d) passed", size, total)
			}
		}
		first = false
		out = out[min(int64(len(out)), size):]
	}
}

func isSubsequence(sub, s []byte) bool {
	for _, c := range sub {
		i := bytes.IndexByte(s, c)
		if i < 0 {
			return false
		}
		s = s[i+1:]
	}
	return true
}

// FuzzLimitReader: no panic, the library never reads more than the
// limits allow, bytes are only dropped, and every answer is one line.
func FuzzLimitReader(f *testing.F) {
	f.Add([]byte("a LOGIN {5}\r\nalice pw\r\nb NOOP\r\n"), uint8(3))
	f.Add([]byte("a APPEND INBOX {300+}\r\n"+strings.Repeat("y", 300)+"\r\n"), uint8(1))
	f.Add([]byte("a APPEND {5}\r\nINBOX ~{150}\r\nzz {20}\r\n{+}\r\n{99999999999999999999}\r\n"), uint8(7))
	f.Add([]byte("a SEARCH "+strings.Repeat("x", 100)+" {5+}\r\n12345\r\n"), uint8(200))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		out, resp, err := runLimit(in, testLimits, int(chunk)+1, func(string, []byte) bool { return true })
		if err != nil && !errors.Is(err, errTooBig) {
			t.Fatalf("unexpected error %v", err)
		}
		if !isSubsequence(out, in) {
			t.Fatalf("library reads bytes the client never sent")
		}
		checkLimited(t, out, testLimits)
		for _, r := range resp {
			if !strings.HasSuffix(r, "\r\n") || strings.Count(r, "\n") != 1 {
				t.Fatalf("answer %q is not one line", r)
			}
		}
	})
}
