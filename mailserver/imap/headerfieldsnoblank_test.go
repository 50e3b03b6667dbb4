package imap

import (
	"strings"
	"testing"
)

// TestHeaderFieldsWithoutBlankLine: BODY[HEADER.FIELDS] and
// BODY[HEADER.FIELDS.NOT] end with the blank line that ends the header,
// "except in the case of a message which has no body and no blank line"
// (RFC 3501 section 6.4.5): there the fields come back alone, as BODY[HEADER]
// does, instead of with a blank line the message does not have.
func TestHeaderFieldsWithoutBlankLine(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	appendMsg(t, c, "INBOX", []byte("From: a@example.org\r\nSubject: no body\r\n"), nil)
	appendMsg(t, c, "INBOX", []byte("From: a@example.org\r\nSubject: body\r\n\r\ntext\r\n"), nil)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	out := strings.Join(r.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT)] BODY.PEEK[HEADER])"), "")
	for _, want := range []string{
		"BODY[HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: no body\r\n",
		"BODY[HEADER.FIELDS.NOT (SUBJECT)] {21}\r\nFrom: a@example.org\r\n",
		"BODY[HEADER] {39}\r\nFrom: a@example.org\r\nSubject: no body\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("message without blank line:\n%q\nwant it to contain %q", out, want)
		}
	}
	out = strings.Join(r.cmd("FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "")
	if !strings.Contains(out, "BODY[HEADER.FIELDS (SUBJECT)] {17}\r\nSubject: body\r\n\r\n") {
		t.Errorf("message with a body:\n%q\nwant the fields and the blank line", out)
	}
}
