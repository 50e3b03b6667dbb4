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
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return r
}
