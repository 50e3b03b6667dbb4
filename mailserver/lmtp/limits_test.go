package lmtp

import (
	"bufio"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine/event"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	names, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(names)
}

// dialFrom connects to addr from the loopback address src and returns the
// connection with the first line the server sent.
func dialFrom(t *testing.T, src, addr string) (net.Conn, string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("greeting from %s: %v", src, err)
	}
	c.SetReadDeadline(time.Time{})
	return c, line
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestConnectionCaps floods the server over the real engine with idle
// connections from two loopback addresses: the per-IP and the global caps
// answer 421 4.7.0, a delivery succeeds once under the cap again, NOOP
// does not keep a connection past the idle deadline nor silence past the
// first-command deadline, and every goroutine and descriptor is released.
func TestConnectionCaps(t *testing.T) {
	e := openEngine(t, nil)
	acct := createAccount(t, e, "u@example.com", event.StatusActive, 0)
	fds0, g0 := openFDs(t), runtime.NumGoroutine()
	s, addr := startServer(t, e, &Options{MaxConnections: 20, MaxConnectionsPerIP: 10,
		FirstCommandTimeout: time.Second, IdleTimeout: 2 * time.Second})

	var idle []net.Conn
	for i := 0; i < 10; i++ {
		c, line := dialFrom(t, "127.0.0.1", addr)
		if !strings.HasPrefix(line, "220 ") {
			t.Fatalf("connection %d: %q", i, line)
		}
		idle = append(idle, c)
	}
	c, line := dialFrom(t, "127.0.0.1", addr)
	if !strings.HasPrefix(line, "421 4.7.0 ") || !strings.Contains(line, "from your address") {
		t.Fatalf("11th connection from one address: %q", line)
	}
	c.Close()
	for i := 0; i < 10; i++ {
		c, line := dialFrom(t, "127.0.0.2", addr)
		if !strings.HasPrefix(line, "220 ") {
			t.Fatalf("connection %d from a second address: %q", i, line)
		}
		idle = append(idle, c)
	}
	c, line = dialFrom(t, "127.0.0.3", addr)
	if !strings.HasPrefix(line, "421 4.7.0 ") || strings.Contains(line, "from your address") {
		t.Fatalf("21st connection: %q", line)
	}
	c.Close()
	if open, refused := s.Conns(); open != 20 || refused != 2 {
		t.Fatalf("open %d refused %d, want 20 and 2", open, refused)
	}

	// Under the cap again, a legitimate delivery goes through.
	idle[0].Close()
	waitFor(t, "a connection slot", func() bool { open, _ := s.Conns(); return open < 20 })
	cl := dial(t, addr)
	cl.lhlo()
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<u@example.com>")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.data(testMsg)
	cl.expectRcpt("u@example.com", 250, "2.0.0")
	cl.send("QUIT")
	cl.expect(221, "")
	cl.c.Close()
	if items, _ := inbox(t, e, acct); len(items) != 1 {
		t.Fatalf("delivered %d messages, want 1", len(items))
	}

	// The idle ones that never sent LHLO are closed after the first-command
	// deadline; one that greets and then only sends NOOP after the idle
	// deadline.
	for _, c := range idle[1:] {
		c.Close()
	}
	waitFor(t, "the closed connections to be released", func() bool { open, _ := s.Conns(); return open == 0 })
	silent, _ := dialFrom(t, "127.0.0.1", addr)
	defer silent.Close()
	nooper := dial(t, addr)
	nooper.lhlo()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := silent.Read(buf); err != nil {
				closed <- time.Since(start)
				return
			}
		}
	}()
	ended := ""
	for time.Since(start) < 8*time.Second && ended == "" {
		if _, err := nooper.c.Write([]byte("NOOP\r\n")); err != nil {
			ended = err.Error()
			break
		}
		code, msg, err := nooper.tp.ReadResponse(0)
		switch {
		case err != nil:
			ended = err.Error()
		case code != 250:
			ended = msg
			if code != 421 {
				t.Errorf("idle connection closed with %d %s, want 421", code, msg)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ended == "" {
		t.Fatal("NOOP kept a connection open past the idle deadline")
	}
	t.Logf("NOOP connection ended after %v: %s", time.Since(start).Round(time.Millisecond), ended)
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Errorf("NOOP connection closed after %v, before the idle deadline", took)
	}
	select {
	case took := <-closed:
		if took > 4*time.Second {
			t.Errorf("a silent connection lived %v, first-command deadline 1 s", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a silent connection was never closed")
	}
	nooper.c.Close()
	silent.Close()

	waitFor(t, "every connection released", func() bool { open, _ := s.Conns(); return open == 0 })
	// The listener and Serve's goroutine are the server's own.
	var g, fds int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		g, fds = runtime.NumGoroutine(), openFDs(t)
		if g <= g0+2 && fds <= fds0+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the flood: %d goroutines (baseline %d), %d descriptors (baseline %d)", g, g0, fds, fds0)
		}
	}
}
