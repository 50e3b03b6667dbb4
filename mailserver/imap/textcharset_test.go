package imap

import (
	"strings"
	"testing"
)

// TestBodyStructureDefaultCharset: a text part that names no charset is
// US-ASCII whether or not it has a Content-Type (RFC 2045 section 5.2,
// RFC 2046 section 4.1.2), so BODYSTRUCTURE lists ("charset" "us-ascii")
// after its other parameters; a charset the part names is kept, and a
// non-text part gets none. Derived from a comparison with Dovecot, which
// answers the same.
func TestBodyStructureDefaultCharset(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	msg := "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; format=flowed\r\n\r\none\r\n" +
		"--b\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nthree\r\n" +
		"--b\r\n\r\nfour\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\n\r\nfive\r\n" +
		"--b--\r\n"
	appendMsg(t, c, "INBOX", []byte(msg), nil)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	out := strings.Join(r.cmd("FETCH 1 BODYSTRUCTURE"), "")
	for _, want := range []string{
		`("text" "plain" ("format" "flowed" "charset" "us-ascii") NIL NIL "7bit" 3 0`,
		`("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 10 0`,
		`("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 5 0`,
		`("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 4 0`,
		`("application" "octet-stream" NIL NIL NIL "7bit" 4 NIL`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("BODYSTRUCTURE:\n%s\nwant it to contain %s", out, want)
		}
	}
}
