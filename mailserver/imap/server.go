package imap

import (
	"errors"
	"log/slog"
	"net"
	"sync"
)

// ErrNoTLS is returned by ServeTLS when Options.TLSConfig is nil.
var ErrNoTLS = errors.New("imap: no TLS configuration")

// Server is an IMAP server over a Backend. It is safe for concurrent use;
// one Server may serve several listeners (a cleartext+STARTTLS port and an
// implicit-TLS port).
type Server struct {
	b      Backend
	opts   Options
	log    *slog.Logger
	lock   *lockout
	climit *connLimits

	refusedLog rateLog
	loginLog   rateLog

	appendBudget *byteBudget
	limits       requestLimits

	headers *headerCache
	recent  *recentTracker

	mu        sync.Mutex
	conns     map[uint64]int // authenticated sessions per account
	open      map[net.Conn]struct{}
	listeners map[net.Listener]struct{}
	closed    bool
}

// NewServer returns a server for b. opts may be nil.
func NewServer(b Backend, opts *Options) *Server {
	s := &Server{b: b, opts: opts.fillDefaults(), conns: make(map[uint64]int),
		open: make(map[net.Conn]struct{}), listeners: make(map[net.Listener]struct{}),
		headers: newHeaderCache(headerCacheSize), recent: newRecentTracker()}
	s.log = s.opts.Logger
	s.lock = newLockout(&s.opts)
	s.climit = newConnLimits(&s.opts)
	s.appendBudget = newByteBudget(appendStoreBudget)
	s.limits = newRequestLimits(s.opts.MaxRequestSize, s.opts.AppendLimit)
	return s
}

// Serve accepts cleartext connections on l (STARTTLS is offered when
// Options.TLSConfig is set) until Close. It returns nil after Close.
func (s *Server) Serve(l net.Listener) error {
	return s.serveListener(l, nil)
}

// ServeTLS accepts implicit-TLS connections (the 993-style port) on l.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.opts.TLSConfig == nil {
		return ErrNoTLS
	}
	return s.serveListener(l, s.opts.TLSConfig)
}

// Close closes every listener and connection. Sessions end; nothing is
// lost because every acknowledged change is already durable.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var errs []error
	for l := range s.listeners {
		errs = append(errs, l.Close())
	}
	for c := range s.open {
		c.Close()
	}
	return errors.Join(errs...)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) addListener(l net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		l.Close()
		return
	}
	s.listeners[l] = struct{}{}
}

func (s *Server) removeListener(l net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, l)
}

// track records an open connection so Close can end it; it refuses one
// after Close.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.open[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, c)
}

// acquire counts an authenticated session of acct against
// MaxConnsPerAccount.
func (s *Server) acquire(acct uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.MaxConnsPerAccount > 0 && s.conns[acct] >= s.opts.MaxConnsPerAccount {
		return false
	}
	s.conns[acct]++
	return true
}

func (s *Server) release(acct uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns[acct]--; s.conns[acct] <= 0 {
		delete(s.conns, acct)
	}
}
