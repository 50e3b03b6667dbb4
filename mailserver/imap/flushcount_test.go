package imap

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
)

// countingListener counts the writes to the connections it accepts.
type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// TestOneWritePerCommand: a command's untagged responses and its tagged
// one reach the socket in one write (they fit the 32 KiB buffer), so a
// client that waits for each answer costs one write per command; an
// IDLE update is still sent as it happens.
func TestOneWritePerCommand(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	for i := range 3 {
		appendMsg(t, c, "INBOX", testMessage(i, "subject"), nil)
	}
	srv := NewServer(env.eng, &Options{AllowInsecureAuth: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int64
	go srv.Serve(countingListener{l, &writes})
	t.Cleanup(func() { srv.Close() })
	r := (&testEnv{t: t, addr: l.Addr().String()}).raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	for _, cmd := range []string{
		"SELECT INBOX",
		"FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
		"STORE 1:3 +FLAGS (\\Flagged)",
		"SEARCH FLAGGED UNDELETED",
		"STORE 1 +FLAGS (\\Deleted)",
		"EXPUNGE",
	} {
		before := writes.Load()
		lines := r.cmd("%s", cmd)
		if last := lines[len(lines)-1]; !strings.Contains(last, " OK ") {
			t.Fatalf("%s: %q", cmd, lines)
		}
		if len(lines) < 2 {
			t.Fatalf("%s: no untagged response: %q", cmd, lines)
		}
		if n := writes.Load() - before; n != 1 {
			t.Errorf("%s: %d lines in %d writes, want 1", cmd, len(lines), n)
		}
	}

	// IDLE: the continuation and a later update each go out at once.
	if _, err := r.c.Write([]byte("I1 IDLE\r\n")); err != nil {
		t.Fatal(err)
	}
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	appendMsg(t, c, "INBOX", testMessage(9, "new"), nil)
	if l := r.line(); !strings.Contains(l, " EXISTS") {
		t.Fatalf("IDLE update: %q", l)
	}
	if _, err := r.c.Write([]byte("DONE\r\n")); err != nil {
		t.Fatal(err)
	}
	for l := r.line(); !strings.HasPrefix(l, "I1 "); l = r.line() {
	}
}
