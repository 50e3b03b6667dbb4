package imap

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
)

// send writes raw bytes and returns every line up to the one tagged tag.
func (r *rawConn) send(tag, data string) []string {
	r.t.Helper()
	if _, err := r.c.Write([]byte(data)); err != nil {
		r.t.Fatal(err)
	}
	var lines []string
	for {
		l := r.line()
		lines = append(lines, l)
		if strings.HasPrefix(l, tag+" ") {
			return lines
		}
	}
}

func wantOnly(t *testing.T, what string, lines []string, prefix string) {
	t.Helper()
	if len(lines) != 1 || !strings.HasPrefix(lines[0], prefix) {
		t.Fatalf("%s: got %q, want only %q...", what, lines, prefix)
	}
}

func TestRequestSizeLimits(t *testing.T) {
	env := newEnv(t, &Options{AllowInsecureAuth: true, AppendLimit: 2000})
	env.account("alice@example.com", 0)
	r := env.raw()

	// A command line beyond the library's 50 KiB: one clean BAD, nothing
	// of the tail read as commands.
	long := "T1 SEARCH TEXT " + strings.Repeat("x LOGOUT\r", 7000) + "\r\n"
	wantOnly(t, "long line", r.send("T1", long), "T1 BAD [TOOBIG]")
	wantOnly(t, "after long line", r.send("T2", "T2 NOOP\r\n"), "T2 OK")

	// A synchronising literal beyond 4 KiB outside APPEND is answered at
	// once (the client would otherwise wait for a continuation).
	wantOnly(t, "big LOGIN literal", r.send("L1", "L1 LOGIN {10000}\r\n"), "L1 BAD [TOOBIG]")
	wantOnly(t, "login", r.send("L2", fmt.Sprintf("L2 LOGIN alice@example.com %s\r\n", testPassword)), "L2 OK")

	caps := r.send("C1", "C1 CAPABILITY\r\n")
	if !strings.Contains(caps[0], " APPENDLIMIT=2000") {
		t.Errorf("capabilities %q lack APPENDLIMIT=2000", caps[0])
	}
	wantOnly(t, "big SEARCH literal", r.send("S1", "S1 SEARCH TEXT {5000}\r\n"), "S1 BAD [TOOBIG]")

	// APPEND beyond AppendLimit: synchronising, then LITERAL+ whose bytes
	// look like commands.
	wantOnly(t, "big APPEND", r.send("A1", "A1 APPEND INBOX {5000}\r\n"), "A1 NO [TOOBIG]")
	body := strings.Repeat("X9 LOGOUT\r\n", 500)
	wantOnly(t, "big APPEND literal+", r.send("A2", fmt.Sprintf("A2 APPEND INBOX {%d+}\r\n%s\r\n", len(body), body)), "A2 NO [TOOBIG]")
	wantOnly(t, "after big APPEND", r.send("A3", "A3 NOOP\r\n"), "A3 OK")

	// Within the limit, both literal forms store the message.
	msg := "Subject: fits\r\n\r\n" + strings.Repeat("y", 1900) + "\r\n"
	if _, err := fmt.Fprintf(r.c, "A4 APPEND INBOX {%d}\r\n", len(msg)); err != nil {
		t.Fatal(err)
	}
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND within limit: %q, want continuation", l)
	}
	wantOnly(t, "APPEND within limit", r.send("A4", msg+"\r\n"), "A4 OK [APPENDUID")
	wantOnly(t, "APPEND literal+ within limit", r.send("A5", fmt.Sprintf("A5 APPEND INBOX {%d+}\r\n%s\r\n", len(msg), msg)), "A5 OK [APPENDUID")
	st := r.send("S2", "S2 STATUS INBOX (MESSAGES)\r\n")
	if !strings.Contains(st[0], "MESSAGES 2") {
		t.Fatalf("STATUS %q, want 2 messages", st)
	}

	// An oversized LITERAL+ in the middle of a command cannot be
	// resynchronised: BYE and close, and the server serves on.
	if _, err := r.c.Write([]byte("M1 SEARCH TEXT {3+}\r\nabc TEXT {9000+}\r\n")); err != nil {
		t.Fatal(err)
	}
	if l := r.line(); !strings.HasPrefix(l, "* BYE [TOOBIG]") {
		t.Fatalf("mid-command literal: %q, want BYE", l)
	}
	c := env.login("alice@example.com", nil)
	appendMsg(t, c, "INBOX", []byte(msg), nil)
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("server unusable after limits: %v", err)
	}
}

// TestRequestSizeLimitsOverTLS checks that the limits hold after STARTTLS
// and on the implicit-TLS port, where this package terminates TLS.
func TestRequestSizeLimitsOverTLS(t *testing.T) {
	env := newEnv(t, &Options{TLSConfig: selfSignedTLS(t)})
	env.account("alice@example.com", 0)
	clientTLS := &tls.Config{InsecureSkipVerify: true}

	r := env.raw()
	wantOnly(t, "STARTTLS", r.send("T1", "T1 STARTTLS\r\n"), "T1 OK")
	tc := tls.Client(r.c, clientTLS)
	r = &rawConn{t: t, c: tc, br: bufio.NewReader(tc)}
	caps := r.send("T2", "T2 CAPABILITY\r\n") // no second greeting
	if !strings.HasPrefix(caps[0], "* CAPABILITY") || !strings.Contains(caps[0], "AUTH=PLAIN") || strings.Contains(caps[0], "STARTTLS") {
		t.Fatalf("capabilities after STARTTLS: %q", caps)
	}
	wantOnly(t, "long line over STARTTLS", r.send("T3", "T3 LIST \"\" "+strings.Repeat("x", 60<<10)+"\r\n"), "T3 BAD [TOOBIG]")
	wantOnly(t, "login over STARTTLS", r.send("T4", fmt.Sprintf("T4 LOGIN alice@example.com %s\r\n", testPassword)), "T4 OK")

	nc, err := net.Dial("tcp", env.tls)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	tc = tls.Client(nc, clientTLS)
	r = &rawConn{t: t, c: tc, br: bufio.NewReader(tc)}
	r.line() // greeting
	wantOnly(t, "big literal over TLS", r.send("U1", "U1 LOGIN {10000}\r\n"), "U1 BAD [TOOBIG]")
	wantOnly(t, "login over TLS", r.send("U2", fmt.Sprintf("U2 LOGIN alice@example.com %s\r\n", testPassword)), "U2 OK")
}
