package imap

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// ErrNoTLS is returned by ServeTLS when Options.TLSConfig is nil.
var ErrNoTLS = errors.New("imap: no TLS configuration")

// Server is an IMAP server over a Backend. It is safe for concurrent use;
// one Server may serve several listeners (a cleartext+STARTTLS port and an
// implicit-TLS port).
type Server struct {
	b    Backend
	opts Options
	log  *slog.Logger
	lock *lockout
	srv  *imapserver.Server // cleartext port, STARTTLS offered when configured
	// secure serves connections whose TLS this package terminated
	// (implicit TLS, and STARTTLS through handoff): the library sees a
	// limitConn, not a *tls.Conn, so it is told authentication is safe.
	secure  *imapserver.Server
	handoff *connQueue
	limits  requestLimits

	headers *headerCache
	recent  *recentTracker

	mu    sync.Mutex
	conns map[uint64]int // authenticated sessions per account
}

// capabilities is everything imapserver can carry with this backend.
// IDLE, ENABLE, UNSELECT, SASL-IR and LITERAL- are added by the library
// itself, and APPENDLIMIT=n once authenticated (session.AppendLimit); an
// oversized APPEND never reaches the library, whose own check would
// leave a LITERAL+ message to be parsed as commands: limitReader answers
// it. CONDSTORE, QUOTA and ID are absent because the library's command
// table has no entry for them.
var capabilities = imap.CapSet{
	imap.CapIMAP4rev1:        {},
	imap.CapIMAP4rev2:        {},
	imap.CapNamespace:        {},
	imap.CapUIDPlus:          {},
	imap.CapESearch:          {},
	imap.CapSearchRes:        {},
	imap.CapListExtended:     {},
	imap.CapListStatus:       {},
	imap.CapMove:             {},
	imap.CapStatusSize:       {},
	imap.CapBinary:           {},
	imap.CapChildren:         {},
	imap.CapSpecialUse:       {},
	imap.CapCreateSpecialUse: {},
	imap.CapLiteralPlus:      {},
	imap.CapAppendLimit:      {},
}

// NewServer returns a server for b. opts may be nil.
func NewServer(b Backend, opts *Options) *Server {
	s := &Server{b: b, opts: opts.fillDefaults(), conns: make(map[uint64]int), headers: newHeaderCache(headerCacheSize), recent: newRecentTracker()}
	s.log = s.opts.Logger
	s.lock = newLockout(&s.opts)
	s.limits = newRequestLimits(s.opts.MaxRequestSize, s.opts.AppendLimit)
	s.srv = imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         capabilities,
		Logger:       libLogger{s.log},
		TLSConfig:    s.opts.TLSConfig,
		InsecureAuth: s.opts.AllowInsecureAuth,
	})
	s.secure = imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         capabilities,
		Logger:       libLogger{s.log},
		InsecureAuth: true,
	})
	s.handoff = newConnQueue()
	if s.opts.TLSConfig != nil {
		go s.secure.Serve(s.handoff)
	}
	return s
}

// Serve accepts cleartext connections on l (STARTTLS is offered when
// Options.TLSConfig is set) until Close. It returns nil after Close.
func (s *Server) Serve(l net.Listener) error {
	return s.srv.Serve(limitListener{Listener: l, srv: s})
}

// ServeTLS accepts implicit-TLS connections (the 993-style port) on l.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.opts.TLSConfig == nil {
		return ErrNoTLS
	}
	return s.secure.Serve(limitListener{Listener: l, srv: s, tlsConfig: s.opts.TLSConfig})
}

// Close closes every listener and connection. Sessions end; nothing is
// lost because every acknowledged change is already durable.
func (s *Server) Close() error {
	s.handoff.Close()
	return errors.Join(s.srv.Close(), s.secure.Close())
}

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	sess := newSession(s, c)
	if lc, ok := c.NetConn().(*limitConn); ok {
		lc.sess = sess
	}
	return sess, nil, nil
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

// libLogger routes the library's messages (read errors, panics it
// recovered) to slog.
type libLogger struct{ l *slog.Logger }

func (l libLogger) Printf(format string, args ...any) {
	l.l.Warn("imap: " + fmt.Sprintf(format, args...))
}
