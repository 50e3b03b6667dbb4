package lmtp

import (
	"log/slog"
	"time"
)

// Defaults filled in by Options.withDefaults.
const (
	// DefaultAddr is Zimbra's LMTP port on the loopback interface.
	DefaultAddr = "127.0.0.1:7025"
	// DefaultMaxMessageSize matches the engine's default limit (50 MiB).
	DefaultMaxMessageSize = 50 << 20
	// DefaultMaxRecipients bounds one transaction, as Postfix's
	// lmtp_destination_recipient_limit does on the sending side.
	DefaultMaxRecipients = 1000
	// DefaultMaxLineLength is far above RFC 5321's 1000: real mail (and
	// the malformed corpus) has lines of tens of kilobytes, and a message
	// refused for its form would never be delivered.
	DefaultMaxLineLength = 1 << 20
	// DefaultReadTimeout is how long a client may stay silent, within a
	// command or within DATA (Postfix waits up to 600 s for our reply).
	DefaultReadTimeout = 5 * time.Minute
	// DefaultWriteTimeout bounds writing one reply.
	DefaultWriteTimeout = time.Minute
	// DefaultMaxConnections caps the connections open at once; more get
	// 421 4.7.0 and are closed. An MTA opens a few dozen at most (Postfix's
	// default lmtp destination concurrency is 20).
	DefaultMaxConnections = 500
	// DefaultMaxConnectionsPerIP caps the connections open at once from one
	// client address.
	DefaultMaxConnectionsPerIP = 100
	// DefaultFirstCommandTimeout is how long a new connection has to send
	// LHLO. Nothing the client sends before LHLO extends it.
	DefaultFirstCommandTimeout = 30 * time.Second
	// DefaultIdleTimeout closes a connection that has not moved a
	// transaction forward (MAIL, RCPT, DATA) for this long, whatever else
	// it sends (NOOP, RSET, LHLO do not count). Longer than ReadTimeout, so
	// it never cuts a transfer ReadTimeout would allow.
	DefaultIdleTimeout = 10 * time.Minute
)

// Options configure a Server. The zero value is usable: every field has a
// default.
type Options struct {
	// Addr is where ListenAndServe listens (TCP). Default DefaultAddr.
	Addr string
	// Hostname is announced in the greeting. Default "localhost".
	Hostname string
	// MaxMessageSize is the largest message accepted, as received (before
	// the Return-Path and Delivered-To lines are prepended); it is
	// advertised as SIZE, checked against MAIL FROM SIZE= and enforced while
	// reading DATA. go-smtp's DATA reader refuses a message of exactly
	// this size, so in practice a message must be smaller by one byte.
	// Pass the engine's MaxMessageSize. Default 50 MiB.
	MaxMessageSize int64
	// MaxRecipients is the most RCPT TO lines one transaction accepts;
	// further ones get 452 4.5.3 and the MTA sends them in another
	// transaction. Default DefaultMaxRecipients.
	MaxRecipients int
	// MaxLineLength is the longest line accepted, in a command or in the
	// message. A longer line in DATA answers 554 5.6.0 for every recipient
	// and ends the connection. Postfix's LMTP client folds lines at 998
	// bytes (lmtp_line_length_limit), so this matters for other clients.
	// Default DefaultMaxLineLength.
	MaxLineLength int
	// ReadTimeout and WriteTimeout bound each read from and write to a
	// client. Defaults DefaultReadTimeout and DefaultWriteTimeout.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// MaxConnections and MaxConnectionsPerIP cap the connections open at
	// once, in all and from one client address. A connection over a cap
	// gets "421 4.7.0" and is closed at once, before any session exists.
	// Defaults DefaultMaxConnections and DefaultMaxConnectionsPerIP.
	MaxConnections      int
	MaxConnectionsPerIP int
	// FirstCommandTimeout bounds the time from accept to LHLO; IdleTimeout
	// the time between two steps of a transaction (see the defaults).
	// Defaults DefaultFirstCommandTimeout and DefaultIdleTimeout.
	FirstCommandTimeout time.Duration
	IdleTimeout         time.Duration
	// RecipientDelimiter, when set (usually "+"), lets "user+tag@domain"
	// reach user@domain when no account or alias has the full address,
	// like Postfix's recipient_delimiter. Default "" (off).
	RecipientDelimiter string
	// Logger receives delivery failures with their internal errors (which
	// clients never see) and go-smtp's connection errors. Default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock that stamps each delivery's internal date. Default
	// time.Now.
	Now func() time.Time
	// Observer, when set, hears every MAIL, RCPT and per-recipient DATA
	// reply (see Observer). Default none.
	Observer Observer
}

// withDefaults returns a copy of o (which may be nil) with every unset field
// filled in.
func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Addr == "" {
		r.Addr = DefaultAddr
	}
	if r.Hostname == "" {
		r.Hostname = "localhost"
	}
	if r.MaxMessageSize <= 0 {
		r.MaxMessageSize = DefaultMaxMessageSize
	}
	if r.MaxRecipients <= 0 {
		r.MaxRecipients = DefaultMaxRecipients
	}
	if r.MaxLineLength <= 0 {
		r.MaxLineLength = DefaultMaxLineLength
	}
	if r.ReadTimeout <= 0 {
		r.ReadTimeout = DefaultReadTimeout
	}
	if r.WriteTimeout <= 0 {
		r.WriteTimeout = DefaultWriteTimeout
	}
	if r.MaxConnections <= 0 {
		r.MaxConnections = DefaultMaxConnections
	}
	if r.MaxConnectionsPerIP <= 0 {
		r.MaxConnectionsPerIP = DefaultMaxConnectionsPerIP
	}
	if r.FirstCommandTimeout <= 0 {
		r.FirstCommandTimeout = DefaultFirstCommandTimeout
	}
	if r.IdleTimeout <= 0 {
		r.IdleTimeout = DefaultIdleTimeout
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return r
}
