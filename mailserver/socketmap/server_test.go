package socketmap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// The tests run the server over the real engine (Pebble and the redo log
// in a temporary directory) on a real socket on 127.0.0.1.

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openEngine(t *testing.T) *engine.Engine {
	t.Helper()
	e, err := engine.Open(t.TempDir(), &engine.Options{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("engine close: %v", err)
		}
	})
	ctx := context.Background()
	if err := e.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct {
		addr    string
		status  event.AccountStatus
		aliases []string
	}{
		{"alice@example.com", event.StatusActive, []string{"al@example.com"}},
		{"locked@example.com", event.StatusLocked, nil},
		{"maint@example.com", event.StatusMaintenance, nil},
		{"closed@example.com", event.StatusClosed, nil},
	} {
		if _, err := e.CreateAccount(ctx, engine.AccountSpec{Address: a.addr, Password: "pw", Status: a.status, Aliases: a.aliases}); err != nil {
			t.Fatalf("create %s: %v", a.addr, err)
		}
	}
	return e
}

func start(t *testing.T, b Backend, o *Options) (*Server, string) {
	t.Helper()
	if o == nil {
		o = &Options{}
	}
	if o.Logger == nil {
		o.Logger = quietLog()
	}
	s := NewServer(b, o)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, l.Addr().String()
}

type client struct {
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{c: c, r: bufio.NewReader(c)}
}

func (cl *client) query(t *testing.T, req string) string {
	t.Helper()
	if _, err := cl.c.Write(appendNetstring(nil, req)); err != nil {
		t.Fatalf("write %q: %v", req, err)
	}
	reply, err := readNetstring(cl.r, 100000)
	if err != nil {
		t.Fatalf("reply to %q: %v", req, err)
	}
	return string(reply)
}

func TestLookups(t *testing.T) {
	e := openEngine(t)
	_, addr := start(t, e, nil)
	cl := dial(t, addr)
	// One connection, many requests, as Postfix sends them.
	for _, tc := range []struct{ req, want string }{
		{"domain example.com", "OK example.com"},
		{"domain EXAMPLE.com", "OK example.com"},
		{"domain example.org", "NOTFOUND "},
		{"domain not a domain", "NOTFOUND "},
		{"mailbox alice@example.com", "OK alice@example.com"},
		{"mailbox Alice@Example.COM", "OK alice@example.com"},
		{"mailbox al@example.com", "OK alice@example.com"},
		{"mailbox locked@example.com", "OK locked@example.com"},
		{"mailbox maint@example.com", "TEMP mailbox in maintenance, try again later"},
		{"mailbox closed@example.com", "NOTFOUND "},
		{"mailbox bob@example.com", "NOTFOUND "},
		{"mailbox @example.com", "NOTFOUND "},
		{"mailbox alice", "NOTFOUND "},
		{"mailbox alice@", "NOTFOUND "},
		{"mailbox a\x01b@example.com", "NOTFOUND "},
		{"mailbox \xff@example.com", "NOTFOUND "},
		{"mailbox", "PERM request must be \"<map name> <key>\""},
		{"aliases alice@example.com", "PERM unknown map aliases (tidemark answers \"domain\" and \"mailbox\")"},
	} {
		if got := cl.query(t, tc.req); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.req, got, tc.want)
		}
	}
}

// failingBackend fails every lookup, as an engine in trouble would.
type failingBackend struct{}

func (failingBackend) GetDomain(context.Context, string) (engine.Domain, error) {
	return engine.Domain{}, errors.New("pebble: disk on fire")
}
func (failingBackend) LookupAccount(context.Context, string) (engine.Account, error) {
	return engine.Account{}, errors.New("pebble: disk on fire")
}

func TestTroubleIsTemporaryAndHidden(t *testing.T) {
	_, addr := start(t, failingBackend{}, nil)
	cl := dial(t, addr)
	for _, req := range []string{"domain example.com", "mailbox alice@example.com"} {
		got := cl.query(t, req)
		if got != replyTrouble {
			t.Errorf("%q: got %q, want %q (no internal text)", req, got, replyTrouble)
		}
	}
}

// slowBackend blocks until the lookup's context ends.
type slowBackend struct{}

func (slowBackend) GetDomain(ctx context.Context, _ string) (engine.Domain, error) {
	<-ctx.Done()
	return engine.Domain{}, ctx.Err()
}
func (slowBackend) LookupAccount(ctx context.Context, _ string) (engine.Account, error) {
	<-ctx.Done()
	return engine.Account{}, ctx.Err()
}

func TestLookupTimeout(t *testing.T) {
	_, addr := start(t, slowBackend{}, &Options{LookupTimeout: 50 * time.Millisecond})
	cl := dial(t, addr)
	begin := time.Now()
	if got := cl.query(t, "mailbox alice@example.com"); got != replyTrouble {
		t.Errorf("got %q, want %q", got, replyTrouble)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("lookup took %v, want about the 50ms timeout", d)
	}
}

// closedAfter reports whether the server closed the connection (EOF)
// without writing anything.
func closedAfter(t *testing.T, cl *client) {
	t.Helper()
	b, err := cl.r.ReadByte()
	if err == nil {
		t.Fatalf("server wrote %q, want the connection closed", b)
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read: %v, want EOF", err)
	}
}

func TestHostileRequests(t *testing.T) {
	e := openEngine(t)
	_, addr := start(t, e, nil)
	for name, raw := range map[string]string{
		"length over the limit":   fmt.Sprintf("%d:", MaxRequestSize+1),
		"huge length":             "99999999999999999999999:",
		"no colon":                "12abc",
		"leading zero":            "01:x,",
		"missing comma":           "3:abcX",
		"empty length":            ":abc,",
		"negative":                "-1:,",
		"eof inside the payload":  "10:abc",
		"eof inside the length":   "12",
		"garbage before a string": "GET / HTTP/1.0\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			cl := dial(t, addr)
			if _, err := cl.c.Write([]byte(raw)); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(name, "eof") {
				cl.c.(*net.TCPConn).CloseWrite()
			}
			closedAfter(t, cl)
		})
	}
	// The server still answers after all that.
	if got := dial(t, addr).query(t, "domain example.com"); got != "OK example.com" {
		t.Errorf("after hostile requests: %q", got)
	}
}

func TestReadDeadline(t *testing.T) {
	e := openEngine(t)
	s, addr := start(t, e, &Options{ReadTimeout: 100 * time.Millisecond})
	cl := dial(t, addr)
	if got := cl.query(t, "domain example.com"); got != "OK example.com" {
		t.Fatalf("got %q", got)
	}
	// A request started but never finished: the deadline closes it.
	if _, err := cl.c.Write([]byte("30:domain exa")); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	closedAfter(t, cl)
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("closed after %v, want about 100ms", d)
	}
	waitConns(t, s, 0)
}

func waitConns(t *testing.T, s *Server, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Conns() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", s.Conns(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMaxConnections(t *testing.T) {
	e := openEngine(t)
	s, addr := start(t, e, &Options{MaxConnections: 2})
	a, b := dial(t, addr), dial(t, addr)
	a.query(t, "domain example.com")
	b.query(t, "domain example.com")
	waitConns(t, s, 2)
	c := dial(t, addr)
	closedAfter(t, c)
	// Once one ends, a new one is served.
	a.c.Close()
	waitConns(t, s, 1)
	if got := dial(t, addr).query(t, "mailbox al@example.com"); got != "OK alice@example.com" {
		t.Errorf("got %q", got)
	}
}

func TestCloseEndsConnections(t *testing.T) {
	e := openEngine(t)
	s := NewServer(e, &Options{Logger: quietLog()})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	cl := dial(t, l.Addr().String())
	cl.query(t, "domain example.com")
	s.Close()
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	closedAfter(t, cl)
	if s.Conns() != 0 {
		t.Errorf("%d connections after Close", s.Conns())
	}
}

func FuzzReadNetstring(f *testing.F) {
	for _, s := range []string{"0:,", "5:hello,", "3:abc", "12", "x:", "2048:", "01:a,"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := readNetstring(bufio.NewReader(strings.NewReader(string(in))), MaxRequestSize)
		if err != nil {
			return
		}
		if len(got) > MaxRequestSize {
			t.Fatalf("payload of %d bytes over the limit", len(got))
		}
		// What was read frames back to a prefix of the input.
		if enc := appendNetstring(nil, string(got)); !strings.HasPrefix(string(in), string(enc)) {
			t.Fatalf("%q read as %q, which frames as %q", in, got, enc)
		}
	})
}
