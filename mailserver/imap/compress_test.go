package imap

import (
	"bufio"
	"compress/flate"
	"fmt"
	"io"
	"strings"
	"testing"
)

// deflateConn speaks to the server through RFC 4978 DEFLATE streams.
type deflateConn struct {
	w  *flate.Writer
	br *bufio.Reader
}

func (d *deflateConn) cmd(t *testing.T, tag, line string) []string {
	t.Helper()
	fmt.Fprintf(d.w, "%s %s\r\n", tag, line)
	if err := d.w.Flush(); err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		l, err := d.br.ReadString('\n')
		if err != nil {
			t.Fatalf("read after %s: %v (%q)", line, err, out)
		}
		out = append(out, l)
		if strings.HasPrefix(l, tag+" ") {
			return out
		}
	}
}

// TestCompressDeflate: after COMPRESS DEFLATE's OK both directions are
// raw DEFLATE; commands, literals in both directions and a second
// COMPRESS (NO [COMPRESSIONACTIVE]) work through it.
func TestCompressDeflate(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	r := env.raw()
	if l := r.cmd("COMPRESS DEFLATE"); !strings.HasPrefix(l[0], "T1 BAD") {
		t.Fatalf("COMPRESS before login: %q", l)
	}
	r.cmd("LOGIN alice@example.com %s", testPassword)
	if !has(r.cmd("CAPABILITY"), " COMPRESS=DEFLATE") {
		t.Fatal("COMPRESS=DEFLATE not advertised")
	}
	wantOnly(t, "COMPRESS", r.cmd("COMPRESS DEFLATE"), "T4 OK")
	fw, _ := flate.NewWriter(r.c, flate.DefaultCompression)
	d := &deflateConn{w: fw, br: bufio.NewReader(flate.NewReader(io.MultiReader(r.br, r.c)))}
	msg := strings.Repeat("Subject: compressed\r\n", 3) + "\r\n" + strings.Repeat("body line\r\n", 2000)
	lastOK(t, "APPEND", d.cmd(t, "C1", fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(msg), msg)))
	lastOK(t, "SELECT", d.cmd(t, "C2", "SELECT INBOX"))
	f := d.cmd(t, "C3", "FETCH 1 (RFC822.SIZE BODY.PEEK[])")
	lastOK(t, "FETCH", f)
	if !has(f, fmt.Sprintf("RFC822.SIZE %d", len(msg))) || !has(f, strings.Repeat("body line\r\n", 2000)) {
		t.Fatalf("FETCH through DEFLATE lost bytes")
	}
	if l := d.cmd(t, "C4", "COMPRESS DEFLATE"); !strings.Contains(l[len(l)-1], "NO [COMPRESSIONACTIVE]") {
		t.Fatalf("second COMPRESS: %q", l)
	}
	wantOnly(t, "NOOP", d.cmd(t, "C5", "NOOP"), "C5 OK")
}
