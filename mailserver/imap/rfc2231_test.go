package imap

import (
	"strings"
	"testing"
)

// TestBodyStructureRFC2231OtherCharset: a parameter in RFC 2231's
// extended form whose charset Go does not decode is no longer dropped: a
// boundary that decodes to ASCII still splits the multipart, and a file
// name in windows-1251 reaches the client as written, as Dovecot sends it,
// instead of the attachment losing its name.
func TestBodyStructureRFC2231OtherCharset(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	msg := "From: a@example.org\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary*=x-unknown''b%31\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nhello\r\n" +
		"--b1\r\nContent-Type: application/msword\r\n" +
		"Content-Disposition: attachment; filename*=windows-1251''%C4%EE%EA.doc\r\n\r\nxyz\r\n" +
		"--b1--\r\n"
	appendMsg(t, c, "INBOX", []byte(msg), nil)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	out := strings.Join(r.cmd("FETCH 1 (BODYSTRUCTURE BODY.PEEK[1])"), "")
	for _, want := range []string{
		`("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0`,
		`("attachment" ("filename*" "windows-1251''%C4%EE%EA.doc"))`,
		`"mixed" ("boundary" "b1")`,
		"BODY[1] {5}\r\nhello",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("FETCH:\n%s\nwant it to contain %s", out, want)
		}
	}
}
