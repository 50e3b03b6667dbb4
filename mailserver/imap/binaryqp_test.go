package imap

import (
	"strings"
	"testing"
)

// TestBinaryQuotedPrintableTrailingSpace: BINARY[] of a quoted-printable
// part drops white space that ends an encoded line (RFC 2045 section 6.7
// rule 3: an encoder writes =20 or =09 there, so bare white space was added
// in transport) and keeps escaped white space and white space before a
// soft line break; BINARY.SIZE counts the same bytes (RFC 3516). Derived
// from the expectations of Dovecot's imaptest, written anew.
func TestBinaryQuotedPrintableTrailingSpace(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	msg := "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"one  \r\ntwo=09\r\nthree =\r\nfour\t\r\n=20five\r\n" +
		"\r\n--b--\r\n"
	appendMsg(t, c, "INBOX", []byte(msg), nil)
	want := "one\r\ntwo\t\r\nthree four\r\n five\r\n"
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	out := strings.Join(r.cmd("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])"), "")
	if !strings.Contains(out, "BINARY.SIZE[1] 30") {
		t.Errorf("BINARY.SIZE[1]: %q, want 30", out)
	}
	if !strings.Contains(out, "BINARY[1] {30}\r\n"+want) && !strings.Contains(out, "BINARY[1] ~{30}\r\n"+want) {
		t.Errorf("BINARY[1]: %q, want %q", out, want)
	}
}
