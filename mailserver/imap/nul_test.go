package imap

import (
	"fmt"
	"strings"
	"testing"
)

// TestBinaryLiteral8: a part with Content-Transfer-Encoding: binary
// holding NUL bytes goes out of BINARY[] exactly, as literal8; BODY[],
// whose ordinary literal cannot carry NUL (RFC 9051 CHAR8), sends each NUL
// as 0x80 with the length unchanged, as Dovecot does; a partial BINARY
// answer names its origin (RFC 3516).
func TestBinaryLiteral8(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	body := "a\x00b\x00c"
	msg := "Subject: nul\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" + body
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	lastOK(t, "APPEND", r.send("A1", fmt.Sprintf("A1 APPEND INBOX ~{%d+}\r\n%s\r\n", len(msg), msg)))
	r.cmd("SELECT INBOX")
	all := strings.Join(r.cmd("FETCH 1 (BODY.PEEK[TEXT])"), "")
	if !strings.Contains(all, "BODY[TEXT] {5}\r\na\x80b\x80c") {
		t.Fatalf("BODY[TEXT] with NUL: %q", all)
	}
	for _, item := range []string{"BODY.PEEK[]", "RFC822", "RFC822.TEXT", "BODY.PEEK[1]"} {
		all = strings.Join(r.cmd("FETCH 1 (%s)", item), "")
		if strings.IndexByte(all, 0) >= 0 {
			t.Fatalf("FETCH %s sent a NUL in an ordinary literal: %q", item, all)
		}
		if !strings.Contains(all, "a\x80b\x80c") {
			t.Fatalf("FETCH %s: %q, want the NULs as 0x80", item, all)
		}
	}
	all = strings.Join(r.cmd("FETCH 1 (BINARY.PEEK[1])"), "")
	if !strings.Contains(all, "BINARY[1] ~{5}\r\n"+body) {
		t.Fatalf("BINARY[1]: %q", all)
	}
	all = strings.Join(r.cmd("FETCH 1 (BINARY.PEEK[1]<2.3>)"), "")
	if !strings.Contains(all, "BINARY[1]<2> ~{3}\r\nb\x00c") {
		t.Fatalf("partial BINARY[1]<2.3>: %q", all)
	}
	all = strings.Join(r.cmd("FETCH 1 (BINARY.SIZE[1])"), "")
	if !strings.Contains(all, "BINARY.SIZE[1] 5") {
		t.Fatalf("BINARY.SIZE: %q", all)
	}
}
