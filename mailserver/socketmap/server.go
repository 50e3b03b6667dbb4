package socketmap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/tidemark/tidemark/engine"
)

// MaxRequestSize bounds one request's netstring payload: a map name, a
// space and a key (an address is at most 254 bytes in SMTP; the rest is
// room for what Postfix may add).
const MaxRequestSize = 2048

// Defaults for Options.
const (
	DefaultMaxConnections = 100
	DefaultReadTimeout    = time.Minute
	DefaultWriteTimeout   = 10 * time.Second
	DefaultLookupTimeout  = 10 * time.Second
)

// Backend is what the socketmap server needs from the engine.
// *engine.Engine implements it. Both methods return an error matching
// engine.ErrNotFound when there is no such domain or address.
type Backend interface {
	GetDomain(ctx context.Context, name string) (engine.Domain, error)
	LookupAccount(ctx context.Context, address string) (engine.Account, error)
}

var _ Backend = (*engine.Engine)(nil)

// Options configure a Server. The zero value takes every default.
type Options struct {
	// MaxConnections bounds the connections open at once; one more is
	// closed at once. 0 takes DefaultMaxConnections.
	MaxConnections int
	// ReadTimeout bounds the wait for a whole request after the previous
	// reply (or the connection's start). 0 takes DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one reply. 0 takes DefaultWriteTimeout.
	WriteTimeout time.Duration
	// LookupTimeout bounds one engine lookup; past it the reply is TEMP.
	// 0 takes DefaultLookupTimeout.
	LookupTimeout time.Duration
	// Logger receives lookup failures and refused connections; nil is
	// slog.Default().
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.MaxConnections <= 0 {
		r.MaxConnections = DefaultMaxConnections
	}
	if r.ReadTimeout <= 0 {
		r.ReadTimeout = DefaultReadTimeout
	}
	if r.WriteTimeout <= 0 {
		r.WriteTimeout = DefaultWriteTimeout
	}
	if r.LookupTimeout <= 0 {
		r.LookupTimeout = DefaultLookupTimeout
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	return r
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("socketmap: server closed")

// Server answers socketmap requests from a Backend. Its methods are safe
// for concurrent use.
type Server struct {
	b    Backend
	opts Options

	ctx    context.Context // parent of every lookup; Close cancels it
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
}

// NewServer returns a server answering from b; opts may be nil.
func NewServer(b Backend, opts *Options) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{b: b, opts: opts.withDefaults(), ctx: ctx, cancel: cancel,
		listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
}

// Serve accepts connections on l until Close, then returns
// ErrServerClosed; any other error is the listener's.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("socketmap: serve %s: %w", l.Addr(), err)
		}
		delay = 0
		if !s.track(c) {
			s.opts.Logger.Warn("socketmap: too many connections, closing one", "remote", c.RemoteAddr().String(),
				"max", s.opts.MaxConnections)
			c.Close()
			continue
		}
		go s.serveConn(c)
	}
}

// track registers c, or reports false when the server is closed or full.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.conns) >= s.opts.MaxConnections {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

// Conns returns the number of connections open now.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops every listener, ends every connection and waits for their
// goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	r := bufio.NewReaderSize(c, 512)
	for {
		if err := c.SetReadDeadline(time.Now().Add(s.opts.ReadTimeout)); err != nil {
			return
		}
		req, err := readNetstring(r, MaxRequestSize)
		if err != nil {
			if !errors.Is(err, errEOF) && s.ctx.Err() == nil {
				s.opts.Logger.Warn("socketmap: bad request, closing the connection", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		reply := s.answer(req)
		if err := c.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)); err != nil {
			return
		}
		if _, err := c.Write(appendNetstring(nil, reply)); err != nil {
			return
		}
	}
}
