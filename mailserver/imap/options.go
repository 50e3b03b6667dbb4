package imap

import (
	"crypto/tls"
	"log/slog"
	"os"
	"time"
)

// Default option values. They follow Zimbra's defaults where Zimbra has
// one (zimbraPasswordLockout*, zimbraImapMaxRequestSize,
// zimbraImapMaxConnections-per-account is a tidemark choice).
const (
	DefaultLockoutWindow      = time.Hour        // zimbraPasswordLockoutFailureLifetime
	DefaultLockoutDuration    = time.Hour        // zimbraPasswordLockoutDuration
	DefaultMaxConnsPerAccount = 20               // concurrent authenticated sessions per account
	DefaultIdleTimeout        = 30 * time.Minute // RFC 3501 §5.4 minimum autologout
	DefaultMaxRequestSize     = 10 << 20         // zimbraImapMaxRequestSize
	DefaultAppendLimit        = 50 << 20         // the engine's default MaxMessageSize
	DefaultSearchTimeout      = 30 * time.Second // one SEARCH, SORT or THREAD
	DefaultLoginTimeout       = time.Minute      // from connection to LOGIN
	DefaultMaxFolderDepth     = 32               // levels of one folder path
	DefaultMaxFolders         = 10000            // folders of one account
	// DefaultMaxConnections is Dovecot's default_client_limit.
	DefaultMaxConnections = 1000
	// DefaultMaxConnectionsPerIP leaves room for an office behind one NAT
	// address (our LMTP's default too).
	DefaultMaxConnectionsPerIP = 100
)

// Options configures a Server. The zero value, or nil, gives the defaults
// documented on each field; fillDefaults is the one place they are set.
type Options struct {
	// TLSConfig carries the certificate for STARTTLS and for ServeTLS
	// (implicit TLS). nil disables both.
	TLSConfig *tls.Config
	// AllowInsecureAuth permits LOGIN and AUTHENTICATE without TLS
	// (Zimbra's zimbraImapCleartextLoginEnabled, default false). Without
	// it, a cleartext session is offered STARTTLS and LOGINDISABLED.
	AllowInsecureAuth bool

	// LockoutMaxFailures failed logins for one address from one IP within
	// LockoutWindow lock that pair for LockoutDuration; while locked even
	// the right password is refused. The hard lockout is opt-in, as
	// Zimbra's zimbraPasswordLockoutEnabled is: 0 (the default) leaves it
	// off, and failures are slowed by the per-IP and per-address delays
	// alone, so nobody can lock a user out. Window and duration default to
	// 1h. A negative LockoutMaxFailures turns the delays off as well.
	LockoutMaxFailures int
	LockoutWindow      time.Duration
	LockoutDuration    time.Duration

	// MaxConnsPerAccount bounds the authenticated sessions of one account;
	// the next LOGIN gets NO [LIMIT]. Default 20; negative = unlimited.
	MaxConnsPerAccount int
	// MaxConnections and MaxConnectionsPerIP cap the connections open at
	// once, authenticated or not, over every listener of the server (IMAP
	// and IMAPS together); over the cap a new connection gets
	// "* BYE [UNAVAILABLE] Too many connections..." and is closed.
	// Defaults 1000 and 100; negative = unlimited.
	MaxConnections      int
	MaxConnectionsPerIP int
	// IdleTimeout ends a session that has sent no command (or has been in
	// IDLE) for this long, with an untagged BYE. Default 30 min.
	IdleTimeout time.Duration
	// MaxRequestSize bounds one command including its literals, except
	// APPEND's message literal (zimbraImapMaxRequestSize, default 10
	// MiB). Two tighter bounds hold as well: 50 KiB of command text
	// outside literals and 4 KiB per literal outside APPEND's message
	// (such literals are read into memory). An oversized command is
	// answered "tag BAD [TOOBIG]" before the decoder sees it (a synchronising
	// literal at once, without a continuation; a LITERAL+ literal is read
	// and dropped, up to twice the larger of MaxRequestSize and
	// AppendLimit). When part of the command has already been handed on,
	// or the literal is larger still, the session ends with
	// "* BYE [TOOBIG]". See limitReader.
	MaxRequestSize int64
	// AppendLimit bounds an APPEND message literal: a larger one is
	// answered NO [TOOBIG] without being stored (a synchronising one
	// before the client sends it). It is advertised as APPENDLIMIT=n and
	// reported by STATUS (APPENDLIMIT). Set it to the engine's
	// MaxMessageSize. Default 50 MiB.
	AppendLimit uint32

	// Now is the clock for lockout and APPEND's default internal date.
	// Default time.Now.
	Now func() time.Time
	// Logger receives protocol and backend errors (never passwords).
	// Default slog.Default().
	Logger *slog.Logger
	// Sources, when set, serves mailbox names other than the live
	// account's (a read-only view of the backup): see Source and doc.go.
	Sources SourceRouter
	// Observer, when set, is told of sessions, commands and logins (for
	// metrics). nil means none.
	Observer Observer
	// LoginTimeout ends a connection that has not authenticated this
	// long after it was accepted (untagged BYE; the TLS handshake of the
	// IMAPS port counts), whatever it sends meanwhile. Default 1 min.
	LoginTimeout time.Duration
	// MaxFolderDepth and MaxFolders bound CREATE and RENAME: a path of
	// more levels, or a folder beyond the account's count, is NO
	// [LIMIT]. Defaults 32 and 10,000; negative = unlimited.
	MaxFolderDepth int
	MaxFolders     int
	// SearchTimeout bounds one SEARCH, SORT or THREAD: past it the
	// command is answered NO [LIMIT] and the work stops; it also stops
	// when the client disconnects. Default 30 s.
	SearchTimeout time.Duration
	// TempDir holds APPEND messages larger than 64 KiB while they
	// arrive (private files, removed once stored). Default os.TempDir().
	TempDir string
}

func (o *Options) fillDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.LockoutWindow <= 0 {
		c.LockoutWindow = DefaultLockoutWindow
	}
	if c.LockoutDuration <= 0 {
		c.LockoutDuration = DefaultLockoutDuration
	}
	if c.MaxConnsPerAccount == 0 {
		c.MaxConnsPerAccount = DefaultMaxConnsPerAccount
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxConnectionsPerIP == 0 {
		c.MaxConnectionsPerIP = DefaultMaxConnectionsPerIP
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxRequestSize <= 0 {
		c.MaxRequestSize = DefaultMaxRequestSize
	}
	if c.AppendLimit == 0 {
		c.AppendLimit = DefaultAppendLimit
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.LoginTimeout <= 0 {
		c.LoginTimeout = DefaultLoginTimeout
	}
	if c.MaxFolderDepth == 0 {
		c.MaxFolderDepth = DefaultMaxFolderDepth
	}
	if c.MaxFolders == 0 {
		c.MaxFolders = DefaultMaxFolders
	}
	if c.SearchTimeout <= 0 {
		c.SearchTimeout = DefaultSearchTimeout
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Observer receives events for metrics. Its methods are called
// concurrently from every connection and must not block.
type Observer interface {
	// SessionOpened and SessionClosed bracket every accepted connection.
	SessionOpened()
	SessionClosed()
	// Command reports one completed command: its name ("FETCH", "UID
	// FETCH", ...), how long it ran and its status: "OK", "NO" or "BAD".
	Command(name string, d time.Duration, status string)
	// Login reports a LOGIN or AUTHENTICATE: "ok", "failed" or "locked".
	Login(result string)
}

func (s *Server) observeLogin(result string) {
	if s.opts.Observer != nil {
		s.opts.Observer.Login(result)
	}
}
