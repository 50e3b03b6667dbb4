package lmtp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// startServer serves b on 127.0.0.1:0 and returns the address; the server
// is closed when the test ends and Serve must have returned ErrServerClosed.
func startServer(t testing.TB, b Backend, opts *Options) (*Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) }
	}
	s := NewServer(b, &o)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return s, l.Addr().String()
}

// client is a raw LMTP client: it writes command lines as given and reads
// replies one at a time, so tests check every line the server sends.
type client struct {
	t  testing.TB
	c  net.Conn
	tp *textproto.Conn
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	cl := &client{t: t, c: c, tp: textproto.NewConn(c)}
	t.Cleanup(func() { c.Close() })
	cl.expect(220, "")
	return cl
}

// send writes one or more lines (PIPELINING: several commands at once).
func (cl *client) send(lines ...string) {
	cl.t.Helper()
	for _, l := range lines {
		if _, err := io.WriteString(cl.c, l+"\r\n"); err != nil {
			cl.t.Fatalf("write %q: %v", l, err)
		}
	}
}

// reply reads one reply (joining the lines of a multi-line one).
func (cl *client) reply() (int, string) {
	cl.t.Helper()
	code, msg, err := cl.tp.ReadResponse(0)
	if err != nil && code == 0 {
		cl.t.Fatalf("read reply: %v", err)
	}
	return code, msg
}

// expect reads one reply and checks its code and, when enh is not empty,
// that its text starts with that enhanced status code.
func (cl *client) expect(code int, enh string) string {
	cl.t.Helper()
	got, msg := cl.reply()
	if got != code || (enh != "" && !strings.HasPrefix(msg, enh+" ")) {
		cl.t.Fatalf("reply %d %q, want %d %s", got, msg, code, enh)
	}
	return msg
}

// expectRcpt reads one per-recipient reply after DATA.
func (cl *client) expectRcpt(rcpt string, code int, enh string) {
	cl.t.Helper()
	msg := cl.expect(code, enh)
	if !strings.Contains(msg, "<"+rcpt+">") {
		cl.t.Fatalf("reply %d %q does not name <%s>", code, msg, rcpt)
	}
}

// lhlo greets and returns the advertised capabilities.
func (cl *client) lhlo() []string {
	cl.t.Helper()
	cl.send("LHLO client.test")
	msg := cl.expect(250, "")
	return strings.Split(msg, "\n")
}

// data sends DATA and the body (dot-stuffed, CRLF, terminated).
func (cl *client) data(body string) {
	cl.t.Helper()
	cl.send("DATA")
	cl.expect(354, "")
	cl.sendBody(body)
}

func (cl *client) sendBody(body string) {
	cl.t.Helper()
	w := cl.tp.DotWriter()
	if _, err := io.WriteString(w, body); err != nil {
		cl.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		cl.t.Fatal(err)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
