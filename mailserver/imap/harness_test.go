package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark/tidemark/engine"
)

// testEnv is a real engine in a temporary directory and an IMAP server on
// 127.0.0.1:0 in front of it.
type testEnv struct {
	t    *testing.T
	eng  *engine.Engine
	srv  *Server
	addr string // cleartext (+STARTTLS when TLS is configured)
	tls  string // implicit TLS, when configured
	accs map[string]engine.Account
}

const testPassword = "secret-pw"

func newEnv(t *testing.T, opts *Options) *testEnv {
	t.Helper()
	eng, err := engine.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatalf("engine.Open: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	if err := eng.CreateDomain(context.Background(), "example.com"); err != nil {
		t.Fatalf("CreateDomain: %v", err)
	}
	if opts == nil {
		opts = &Options{AllowInsecureAuth: true}
	}
	o := *opts
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	env := &testEnv{t: t, eng: eng, accs: make(map[string]engine.Account)}
	env.srv = NewServer(eng, &o)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env.addr = l.Addr().String()
	go env.srv.Serve(l)
	if o.TLSConfig != nil {
		lt, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		env.tls = lt.Addr().String()
		go env.srv.ServeTLS(lt)
	}
	t.Cleanup(func() { env.srv.Close() })
	return env
}

func (env *testEnv) account(addr string, quota int64) engine.Account {
	env.t.Helper()
	spec := engine.AccountSpec{Address: addr, Password: testPassword}
	if quota > 0 {
		spec.Quota = &quota
	}
	a, err := env.eng.CreateAccount(context.Background(), spec)
	if err != nil {
		env.t.Fatalf("CreateAccount %s: %v", addr, err)
	}
	env.accs[addr] = a
	return a
}

// dial connects without logging in.
func (env *testEnv) dial(h *imapclient.UnilateralDataHandler) *imapclient.Client {
	env.t.Helper()
	c, err := imapclient.DialInsecure(env.addr, &imapclient.Options{UnilateralDataHandler: h})
	if err != nil {
		env.t.Fatalf("dial: %v", err)
	}
	env.t.Cleanup(func() { c.Close() })
	return c
}

// login connects and authenticates as addr.
func (env *testEnv) login(addr string, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	env.t.Helper()
	c := env.dial(h)
	if err := c.Login(addr, testPassword).Wait(); err != nil {
		env.t.Fatalf("login %s: %v", addr, err)
	}
	return c
}

func appendMsg(t *testing.T, c *imapclient.Client, mailbox string, body []byte, opts *imap.AppendOptions) *imap.AppendData {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(body)), opts)
	if _, err := cmd.Write(body); err != nil {
		t.Fatalf("append write: %v", err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("append close: %v", err)
	}
	d, err := cmd.Wait()
	if err != nil {
		t.Fatalf("append %s: %v", mailbox, err)
	}
	return d
}

// imapCode returns the response code of an IMAP error ("" if none).
func imapCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

func wantCode(t *testing.T, what string, err error, code imap.ResponseCode) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want NO [%s]", what, code)
	}
	if got := imapCode(err); got != code {
		t.Fatalf("%s: %v (code %q), want [%s]", what, err, got, code)
	}
}

func testMessage(i int, subject string) []byte {
	return []byte(fmt.Sprintf("From: Sender %d <sender%d@example.org>\r\n"+
		"To: alice@example.com\r\n"+
		"Subject: %s\r\n"+
		"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\n"+
		"Message-ID: <m%d@example.org>\r\n"+
		"\r\n"+
		"Body of message %d.\r\n", i, i, subject, i, i))
}

// rawConn is a line-level client for checks imapclient hides (response
// order, exact bytes).
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
	n  int
}

func (env *testEnv) raw() *rawConn {
	env.t.Helper()
	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		env.t.Fatal(err)
	}
	env.t.Cleanup(func() { c.Close() })
	r := &rawConn{t: env.t, c: c, br: bufio.NewReader(c)}
	r.line() // greeting
	return r
}

func (r *rawConn) line() string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read: %v (have %q)", err, s)
	}
	return s
}

// cmd sends a command and returns every line up to its tagged response.
func (r *rawConn) cmd(format string, args ...any) []string {
	r.t.Helper()
	r.n++
	tag := fmt.Sprintf("T%d", r.n)
	if _, err := fmt.Fprintf(r.c, tag+" "+format+"\r\n", args...); err != nil {
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

func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	certPEM, keyPEM, err := GenerateSelfSigned([]string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}
