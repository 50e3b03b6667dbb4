package imap

import (
	"strings"
	"testing"
)

// TestSearchDecodedText: SEARCH BODY and TEXT find words in base64 and
// quoted-printable text parts and in RFC 2047 encoded headers, as
// RFC 9051 section 6.4.4 expects of a server that knows MIME; they used to
// search only the encoded bytes.
func TestSearchDecodedText(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	msgs := []string{
		// 1: base64 body "Meeting in Zürich tomorrow"
		"Subject: one\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nTWVldGluZyBpbiBaw7xyaWNoIHRvbW9ycm93\r\n",
		// 2: multipart with a quoted-printable part "café au lait" and an encoded subject "Grüße"
		"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 au=\r\n lait\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nc2VjcmV0IGF0dGFjaG1lbnQ=\r\n--b--\r\n",
		// 3: plain
		"Subject: three\r\n\r\nnothing special\r\n",
		// 4: ISO-8859-1 quoted-printable "Gr=FC=DFe aus K=F6ln"
		"Subject: four\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe aus K=F6ln\r\n",
	}
	for _, m := range msgs {
		appendMsg(t, c, "INBOX", []byte(m), nil)
	}
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	for _, q := range []struct{ query, want string }{
		{`BODY "zürich"`, "* SEARCH 1\r\n"},
		{`BODY "café au lait"`, "* SEARCH 2\r\n"},
		{`TEXT "GRÜSSE"`, "* SEARCH\r\n"},            // case folding is simple, not ß to SS
		{`TEXT "grüße"`, "* SEARCH 2 4\r\n"},         // subject of 2, body of 4
		{`BODY "secret attachment"`, "* SEARCH\r\n"}, // not a text part
		{`BODY "special"`, "* SEARCH 3\r\n"},
		{`BODY "köln"`, "* SEARCH 4\r\n"},
	} {
		l := r.cmd("SEARCH CHARSET UTF-8 " + q.query)
		if got := strings.Join(l[:len(l)-1], ""); got != q.want {
			t.Errorf("SEARCH %s = %q, want %q", q.query, got, q.want)
		}
	}
}
