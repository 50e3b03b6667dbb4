package lmtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

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
}

// NewServer returns a server delivering into b; opts may be nil.
func NewServer(b Backend, opts *Options) *Server {
	o := opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{b: b, opts: o, ctx: ctx, cancel: cancel, conns: map[*trackedConn]struct{}{}}
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

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, conn: c.Conn(), remote: c.Conn().RemoteAddr().String()}, nil
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
// Shutdown can close those still open when its context ends.
type trackingListener struct {
	net.Listener
	s *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s}
	l.s.mu.Lock()
	l.s.conns[tc] = struct{}{}
	l.s.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	s *Server
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}
