package imap

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// limitConn is a client connection as imapserver sees it: reads go
// through a limitReader, and writes are serialised with the reader's own
// answers. On the cleartext port it also performs STARTTLS itself (see
// startTLS), so that the TLS session is read through a limitReader too.
type limitConn struct {
	net.Conn // the transport: TCP, or a *tls.Conn
	srv      *Server
	r        *limitReader

	wmu          sync.Mutex
	dead         bool // after a BYE: writes fail
	skipGreeting bool // drop the first line written (the greeting after STARTTLS)

	handedOff atomic.Bool // after STARTTLS: this conn is finished, the transport lives on
	sess      *session    // set by newSession; read on the library's goroutine only
}

// wrapConn puts a limitReader in front of transport. cleartext enables
// STARTTLS handling when the server has a TLS configuration.
func (s *Server) wrapConn(transport net.Conn, cleartext bool) *limitConn {
	c := &limitConn{Conn: transport, srv: s}
	c.r = newLimitReader(transport, s.limits, c.respond)
	if cleartext && s.opts.TLSConfig != nil {
		c.r.startTLS = c.startTLS
	}
	return c
}

func (c *limitConn) Read(p []byte) (int, error) {
	if c.handedOff.Load() {
		return 0, io.EOF
	}
	n, err := c.r.Read(p)
	if errors.Is(err, errTooBig) {
		c.wmu.Lock()
		c.dead = true
		c.wmu.Unlock()
		c.Conn.Close()
	}
	return n, err
}

func (c *limitConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead || c.handedOff.Load() {
		return 0, net.ErrClosed
	}
	if c.skipGreeting {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return len(p), nil
		}
		c.skipGreeting = false
		n, err := c.Conn.Write(p[i+1:])
		return i + 1 + n, err
	}
	return c.Conn.Write(p)
}

// respond writes one of the limitReader's own answers.
func (c *limitConn) respond(line string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead {
		return net.ErrClosed
	}
	_, err := io.WriteString(c.Conn, line)
	return err
}

func (c *limitConn) Close() error {
	if c.handedOff.Load() {
		return nil
	}
	return c.Conn.Close()
}

// startTLS answers "tag STARTTLS" before an authentication and moves the
// connection to the server's TLS side: the cleartext session ends (its
// reads see EOF, its Close leaves the socket open), and a new session
// starts over TLS on the same socket, read through a new limitReader,
// its greeting suppressed as RFC 3501 requires. Input the client sent
// after the command is handed to TLS, as imapserver does. After an
// authentication it declines, and the library answers BAD.
func (c *limitConn) startTLS(tag string, rest []byte) bool {
	if c.sess == nil || c.sess.authed || tag == "" {
		return false
	}
	if err := c.respond(tag + " OK Begin TLS negotiation now\r\n"); err != nil {
		return false
	}
	var transport net.Conn = c.Conn
	if len(rest) > 0 {
		transport = prefixConn{c.Conn, io.MultiReader(bytes.NewReader(bytes.Clone(rest)), c.Conn)}
	}
	c.handedOff.Store(true)
	nc := c.srv.wrapConn(tls.Server(transport, c.srv.opts.TLSConfig), false)
	nc.skipGreeting = true
	c.srv.handoff.push(nc)
	return true
}

type prefixConn struct {
	net.Conn
	r io.Reader
}

func (p prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// limitListener wraps every accepted connection in a limitConn, after
// terminating TLS on the implicit-TLS port.
type limitListener struct {
	net.Listener
	srv       *Server
	tlsConfig *tls.Config // nil on the cleartext port
}

func (l limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.tlsConfig != nil {
		return l.srv.wrapConn(tls.Server(c, l.tlsConfig), false), nil
	}
	return l.srv.wrapConn(c, true), nil
}

// connQueue is the listener of the TLS-side imapserver for connections
// that arrive by STARTTLS.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) {
	select {
	case q.ch <- c:
	case <-q.done:
		c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
