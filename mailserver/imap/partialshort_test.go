package imap

import (
	"strings"
	"testing"
)

// TestPartialWithoutSize: "<offset>" with no size, which Dovecot accepts
// though RFC 9051's grammar always has one, fetches from the offset to
// the end, for BODY[] and BINARY[] alike, and the answer names the origin.
func TestPartialWithoutSize(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	appendMsg(t, c, "INBOX", []byte("Subject: p\r\n\r\n0123456789\r\n"), nil)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	out := strings.Join(r.cmd("FETCH 1 (BODY.PEEK[TEXT]<4> BINARY.PEEK[1]<8>)"), "")
	if !strings.Contains(out, `BODY[TEXT]<4> "456789`) && !strings.Contains(out, "BODY[TEXT]<4> {8}\r\n456789\r\n") {
		t.Errorf("BODY[TEXT]<4>: %q", out)
	}
	if !strings.Contains(out, "BINARY[1]<8> {4}\r\n89\r\n") && !strings.Contains(out, "BINARY[1]<8> ~{4}\r\n89\r\n") {
		t.Errorf("BINARY[1]<8>: %q", out)
	}
	if !strings.HasPrefix(lastLine(out), "T3 OK") {
		t.Errorf("FETCH with <offset>: %q", out)
	}
	// A size of zero and a malformed range stay BAD.
	for _, bad := range []string{"BODY.PEEK[TEXT]<4.0>", "BODY.PEEK[TEXT]<4.>", "BODY.PEEK[TEXT]<>"} {
		l := r.cmd("FETCH 1 (%s)", bad)
		if !strings.Contains(l[len(l)-1], " BAD ") {
			t.Errorf("FETCH 1 (%s): %q, want BAD", bad, l)
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimSuffix(s, "\r\n")
	return s[strings.LastIndex(s, "\r\n")+2:]
}
