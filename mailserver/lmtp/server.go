package lmtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tidemark/tidemark/engine"
)

// Backend is what the LMTP server needs from the engine.
//
// LookupAccount finds an account by primary address or alias,
// case-insensitively, and returns engine.ErrNotFound when there is none.
// Deliver stores one message into the INBOX of every listed account with
// one blob and one record, and returns only after that record is durable;
// per-recipient refusals (quota, status) come back in the results, and an
// error means nothing was stored. Both are called concurrently from many
// sessions. *engine.Engine implements Backend.
type Backend interface {
	LookupAccount(ctx context.Context, address string) (engine.Account, error)
	Deliver(ctx context.Context, d engine.Delivery) ([]engine.RecipientResult, error)
}

// ErrServerClosed is returned by Serve and ListenAndServe after Close or
// Shutdown.
var ErrServerClosed = errors.New("lmtp: server closed")

// Server is an LMTP server delivering into a Backend. Its methods are safe
// for concurrent use.
type Server struct {
	b    Backend
	opts Options
	srv  *smtp.Server

	// ctx is the parent of every backend call; Close cancels it so a
	// session blocked in the engine returns.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	conns  map[*trackedConn]struct{}
	perIP  map[string]int // open connections per client address

	refused atomic.Int64 // connections refused by a cap
}

// NewServer returns a server delivering into b; opts may be nil.
func NewServer(b Backend, opts *Options) *Server {
	o := opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{b: b, opts: o, ctx: ctx, cancel: cancel, conns: map[*trackedConn]struct{}{}, perIP: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.LMTP = true
	srv.Network = "tcp"
	srv.Addr = o.Addr
	srv.Domain = o.Hostname
	srv.MaxMessageBytes = o.MaxMessageSize
	srv.MaxRecipients = o.MaxRecipients
	srv.MaxLineLength = o.MaxLineLength
	srv.ReadTimeout = o.ReadTimeout
	srv.WriteTimeout = o.WriteTimeout
	srv.ErrorLog = slogPrinter{o.Logger}
	s.srv = srv
	return s
}

// Conns returns the connections open now and how many were refused by a
// cap since the server started.
func (s *Server) Conns() (open int, refused int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns), s.refused.Load()
}

// Serve accepts LMTP connections on l until Close or Shutdown, then returns
// ErrServerClosed. Any other error is the listener's.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		l.Close()
		return ErrServerClosed
	}
	if err := s.srv.Serve(&trackingListener{Listener: l, s: s}); err != nil {
		return fmt.Errorf("lmtp: serve %s: %w", l.Addr(), err)
	}
	// go-smtp's Serve returns nil only once the server is closed.
	return ErrServerClosed
}

// ListenAndServe listens on Options.Addr (TCP) and serves, as Serve.
func (s *Server) ListenAndServe() error {
	l, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("lmtp: listen: %w", err)
	}
	return s.Serve(l)
}

// Close stops listening and drops every connection at once. A delivery in
// progress is cancelled: its recipients get no reply (the MTA retries), and
// whether it was stored is up to the engine, which never loses a record it
// acknowledged.
func (s *Server) Close() error {
	if !s.markClosed() {
		return nil
	}
	s.cancel()
	if err := s.srv.Close(); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return fmt.Errorf("lmtp: close: %w", err)
	}
	return nil
}

// Shutdown stops listening and waits until every connection has ended
// (clients end with QUIT, or by idling past ReadTimeout) or ctx is done;
// then it closes what is left, as Close does, and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.markClosed() {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	s.cancel()
	if err == nil || errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	// go-smtp's Close does nothing once Shutdown has begun, so the
	// connections still open are closed here.
	s.mu.Lock()
	for c := range s.conns {
		c.Conn.Close()
	}
	s.mu.Unlock()
	return fmt.Errorf("lmtp: shutdown: %w", err)
}

func (s *Server) markClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	return true
}

// newSession is called by go-smtp at LHLO: the first-command deadline is
// met, the idle deadline runs from here.
func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	tc, _ := c.Conn().(*trackedConn)
	if tc != nil {
		tc.progress()
	}
	ss := &session{s: s, conn: c.Conn(), tc: tc, remote: c.Conn().RemoteAddr().String()}
	if s.opts.Observer != nil {
		return &observedSession{inner: ss, obs: s.opts.Observer}, nil
	}
	return ss, nil
}

// slogPrinter carries go-smtp's internal messages (accept errors, panics)
// to the server's logger.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) {
	p.l.Warn("lmtp: " + fmt.Sprintf(format, v...))
}

func (p slogPrinter) Println(v ...any) {
	p.l.Warn("lmtp: " + fmt.Sprint(v...))
}

// trackingListener records the connections it hands to go-smtp so that
// Shutdown can close those still open when its context ends, and refuses
// those over the connection caps before go-smtp sees them.
type trackingListener struct {
	net.Listener
	s *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := l.s.admit(c); tc != nil {
			return tc, nil
		}
	}
}

// admit counts c against the caps and returns it tracked, or answers 421
// and closes it when a cap is reached.
func (s *Server) admit(c net.Conn) *trackedConn {
	ip := remoteIP(c)
	s.mu.Lock()
	var why string
	switch {
	case len(s.conns) >= s.opts.MaxConnections:
		why = "too many connections"
	case s.perIP[ip] >= s.opts.MaxConnectionsPerIP:
		why = "too many connections from your address"
	}
	if why != "" {
		s.mu.Unlock()
		s.refused.Add(1)
		// The reply fits the socket buffer of a new connection; the
		// deadline keeps a client that never reads from holding us.
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = fmt.Fprintf(c, "421 4.7.0 %s %s, try again later\r\n", s.opts.Hostname, why)
		_ = c.Close()
		return nil
	}
	tc := &trackedConn{Conn: c, s: s, ip: ip}
	tc.limit.Store(time.Now().Add(s.opts.FirstCommandTimeout).UnixNano())
	s.conns[tc] = struct{}{}
	s.perIP[ip]++
	s.mu.Unlock()
	_ = tc.SetReadDeadline(time.Time{})
	return tc
}

// remoteIP is the address a per-IP cap counts against: the IP without the
// port.
func remoteIP(c net.Conn) string {
	a := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(a); err == nil {
		return host
	}
	return a
}

// trackedConn is one admitted connection. Every read deadline go-smtp or
// the session sets is clamped to limit: accept + FirstCommandTimeout until
// LHLO, then the last transaction step + IdleTimeout, so commands that move
// nothing forward (NOOP, RSET) cannot keep a connection open.
type trackedConn struct {
	net.Conn
	s      *Server
	ip     string
	limit  atomic.Int64 // unix nanoseconds
	closed atomic.Bool
}

// progress moves the idle deadline: the connection met its first-command
// deadline or took a transaction a step further.
func (c *trackedConn) progress() {
	c.limit.Store(time.Now().Add(c.s.opts.IdleTimeout).UnixNano())
}

func (c *trackedConn) SetReadDeadline(t time.Time) error {
	limit := time.Unix(0, c.limit.Load())
	if t.IsZero() || t.After(limit) {
		t = limit
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *trackedConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *trackedConn) Close() error {
	if c.closed.Swap(true) {
		return c.Conn.Close()
	}
	c.s.mu.Lock()
	delete(c.s.conns, c)
	if c.s.perIP[c.ip]--; c.s.perIP[c.ip] <= 0 {
		delete(c.s.perIP, c.ip)
	}
	c.s.mu.Unlock()
	return c.Conn.Close()
}
