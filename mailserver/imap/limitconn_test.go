package imap

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// dialGreeting connects and returns the connection and its first line.
func dialGreeting(t *testing.T, addr string, cfg *tls.Config) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	var c net.Conn
	var err error
	if cfg != nil {
		c, err = tls.Dial("tcp", addr, cfg)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("greeting: %v (have %q)", err, line)
	}
	return c, br, line
}

func TestConnectionCapsPerIPAndGlobal(t *testing.T) {
	cfg := selfSignedTLS(t)
	env := newEnv(t, &Options{TLSConfig: cfg, AllowInsecureAuth: true, MaxConnections: 100, MaxConnectionsPerIP: 3})
	clientTLS := &tls.Config{InsecureSkipVerify: true}

	// Three from 127.0.0.1, over both ports; the fourth is refused on either.
	var held []net.Conn
	for i, addr := range []string{env.addr, env.tls, env.addr} {
		var c *tls.Config
		if addr == env.tls {
			c = clientTLS
		}
		nc, _, g := dialGreeting(t, addr, c)
		if !strings.HasPrefix(g, "* OK") {
			t.Fatalf("connection %d: %q", i, g)
		}
		held = append(held, nc)
	}
	for _, tc := range []struct {
		addr string
		cfg  *tls.Config
	}{{env.addr, nil}, {env.tls, clientTLS}} {
		nc, br, g := dialGreeting(t, tc.addr, tc.cfg)
		if !strings.HasPrefix(g, "* BYE [UNAVAILABLE] Too many connections from your address") {
			t.Fatalf("over the per-IP cap on %s: %q", tc.addr, g)
		}
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := br.ReadByte(); err == nil {
			t.Fatal("refused connection left open")
		}
	}
	// One closed: the next is admitted once the server has seen it go.
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, g := dialGreeting(t, env.addr, nil)
		if strings.HasPrefix(g, "* OK") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed: %q", g)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The global cap, with a per-IP cap above it.
	env2 := newEnv(t, &Options{AllowInsecureAuth: true, MaxConnections: 2, MaxConnectionsPerIP: 50})
	for i := 0; i < 2; i++ {
		if _, _, g := dialGreeting(t, env2.addr, nil); !strings.HasPrefix(g, "* OK") {
			t.Fatalf("connection %d: %q", i, g)
		}
	}
	if _, _, g := dialGreeting(t, env2.addr, nil); !strings.HasPrefix(g, "* BYE [UNAVAILABLE] Too many connections, try again later") {
		t.Fatalf("over the global cap: %q", g)
	}
}

// A flood of idle connections past the cap costs the server no more open
// connections than the cap: every one past it is closed at once.
func TestConnectionFloodStaysAtCap(t *testing.T) {
	env := newEnv(t, &Options{AllowInsecureAuth: true, MaxConnections: 20, MaxConnectionsPerIP: 20})
	ok, bye := 0, 0
	for i := 0; i < 200; i++ {
		_, _, g := dialGreeting(t, env.addr, nil)
		switch {
		case strings.HasPrefix(g, "* OK"):
			ok++
		case strings.HasPrefix(g, "* BYE"):
			bye++
		default:
			t.Fatalf("connection %d: %q", i, g)
		}
	}
	if ok != 20 || bye != 180 {
		t.Fatalf("admitted %d, refused %d; want 20 and 180", ok, bye)
	}
	env.srv.mu.Lock()
	open := len(env.srv.open)
	env.srv.mu.Unlock()
	if open > 20 {
		t.Fatalf("%d connections open, cap 20", open)
	}
}

func TestPreAuthDeadlineNotExtendedByNoop(t *testing.T) {
	env := newEnv(t, &Options{AllowInsecureAuth: true, LoginTimeout: 600 * time.Millisecond, IdleTimeout: time.Hour})
	env.account("alice@example.com", 0)

	// NOOP and CAPABILITY every 100 ms do not keep it open.
	c, br, _ := dialGreeting(t, env.addr, nil)
	start := time.Now()
	done := make(chan string, 1)
	go func() {
		for {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			l, err := br.ReadString('\n')
			if err != nil {
				done <- "closed without BYE: " + err.Error()
				return
			}
			if strings.HasPrefix(l, "* BYE") {
				done <- l
				return
			}
		}
	}()
	for i := 0; ; i++ {
		cmd := "NOOP"
		if i%2 == 1 {
			cmd = "CAPABILITY"
		}
		if _, err := fmt.Fprintf(c, "a%d %s\r\n", i, cmd); err != nil {
			break
		}
		select {
		case l := <-done:
			if !strings.Contains(l, "* BYE") || !strings.Contains(l, "Login timeout") {
				t.Fatalf("pre-auth end: %q", l)
			}
			if el := time.Since(start); el < 500*time.Millisecond || el > 5*time.Second {
				t.Fatalf("ended after %v, deadline 600ms", el)
			}
			goto loggedIn
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("NOOPs kept the unauthenticated connection open")
		}
	}
	t.Fatal("connection closed without a BYE")

loggedIn:
	// A session that logs in in time outlives the deadline.
	r := env.raw()
	if l := r.cmd(`LOGIN alice@example.com %s`, testPassword); !strings.Contains(l[len(l)-1], "OK") {
		t.Fatalf("login: %q", l)
	}
	time.Sleep(900 * time.Millisecond)
	if l := r.cmd("NOOP"); !strings.Contains(l[len(l)-1], "OK") {
		t.Fatalf("NOOP after the pre-auth deadline: %q", l)
	}
}

// The idle timeout applies after login as configured.
func TestIdleTimeoutAfterLogin(t *testing.T) {
	env := newEnv(t, &Options{AllowInsecureAuth: true, IdleTimeout: 400 * time.Millisecond})
	env.account("alice@example.com", 0)
	r := env.raw()
	r.cmd(`LOGIN alice@example.com %s`, testPassword)
	start := time.Now()
	l := r.line()
	if !strings.HasPrefix(l, "* BYE") || !strings.Contains(l, "idle") {
		t.Fatalf("after idling: %q", l)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("BYE after %v, idle timeout 400ms", el)
	}
}

// TestFolderLimitFromEngine: a RENAME whose own name is within the depth
// but which carries a subfolder beyond it is refused by the engine, and
// the refusal reaches the client as NO [LIMIT] with its reason.
func TestFolderLimitFromEngine(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	if l := r.cmd("CREATE a/b"); !strings.HasPrefix(l[len(l)-1], "T2 OK") {
		t.Fatalf("CREATE a/b: %q", l)
	}
	deep := strings.TrimSuffix(strings.Repeat("d/", 31), "/")
	if l := r.cmd("CREATE %s", deep); !strings.HasPrefix(l[len(l)-1], "T3 OK") {
		t.Fatalf("CREATE 31 levels: %q", l)
	}
	l := r.cmd("RENAME a %s/a", deep)
	if last := l[len(l)-1]; !strings.HasPrefix(last, "T4 NO [LIMIT]") || !strings.Contains(last, "32 levels") {
		t.Fatalf("RENAME carrying a/b to 33 levels: %q", l)
	}
	if l := r.cmd(`LIST "" a/b`); !strings.Contains(strings.Join(l, ""), `"a/b"`) {
		t.Fatalf("a/b gone after the refused RENAME: %q", l)
	}
}
