package lmtp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tidemark/tidemark/engine"
)

// maxSizeHint caps the buffer reserved ahead from MAIL FROM SIZE=.
const maxSizeHint = 4 << 20

// session is one LMTP connection's transaction state. go-smtp calls its
// methods from the connection's goroutine, one at a time (LMTPData from a
// goroutine of its own, while the connection waits), so it needs no lock.
type session struct {
	s      *Server
	conn   net.Conn
	tc     *trackedConn // nil when go-smtp's conn is not ours (tests)
	remote string

	from     string // normalised reverse-path; "" is the null sender
	fromSize int64  // SIZE= from MAIL FROM, 0 when not given
	rcpts    []recipient
}

// recipient is one accepted RCPT TO line.
type recipient struct {
	to      string // as go-smtp reported it: the key for StatusCollector
	address string // normalised
	account uint64
}

var _ smtp.LMTPSession = (*session)(nil)

// Reset discards the transaction (RSET, a new LHLO, or the end of DATA).
func (ss *session) Reset() {
	ss.from, ss.fromSize, ss.rcpts = "", 0, nil
}

// Logout ends the session; nothing is held beyond the transaction.
func (ss *session) Logout() error { return nil }

// progress records a step of a transaction: the idle deadline starts again.
func (ss *session) progress() {
	if ss.tc != nil {
		ss.tc.progress()
	}
}

// Mail starts a transaction. go-smtp has already refused a SIZE= above
// MaxMessageSize with 552 5.3.4.
func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	ss.Reset()
	ss.progress()
	if from != "" {
		norm, err := normalizeAddress(from)
		if err != nil {
			return replyBadSender
		}
		from = norm
	}
	ss.from = from
	if opts != nil && opts.Size > 0 {
		if opts.Size > ss.s.opts.MaxMessageSize {
			return replyTooLarge
		}
		ss.fromSize = opts.Size
	}
	return nil
}

// Rcpt looks the recipient up at once, so an unknown user or a closed
// account is refused here and the MTA bounces or defers that recipient
// alone.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.progress()
	addr, err := normalizeAddress(to)
	if err != nil {
		return replyBadRecipient
	}
	acct, err := ss.lookup(addr)
	if err != nil {
		reply := errorReply(err)
		if reply == replyTrouble {
			ss.s.opts.Logger.Error("lmtp: recipient lookup", "rcpt", addr, "remote", ss.remote, "err", err)
		}
		ss.logRefused(addr, reply)
		return reply
	}
	if reply := statusReply(acct.Status); reply != nil {
		ss.logRefused(addr, reply)
		return reply
	}
	ss.rcpts = append(ss.rcpts, recipient{to: to, address: addr, account: acct.ID})
	return nil
}

// lookup finds the account for addr, trying the address without its
// subaddress when Options.RecipientDelimiter allows.
func (ss *session) lookup(addr string) (engine.Account, error) {
	acct, err := ss.s.b.LookupAccount(ss.s.ctx, addr)
	if errors.Is(err, engine.ErrNotFound) {
		if base, ok := stripSubaddress(addr, ss.s.opts.RecipientDelimiter); ok {
			return ss.s.b.LookupAccount(ss.s.ctx, base)
		}
	}
	return acct, err
}

// Data is never called in LMTP mode (go-smtp calls LMTPData); it refuses
// with a temporary error to be safe.
func (ss *session) Data(r io.Reader) error {
	return replyTrouble
}

// LMTPData reads the message, delivers it to every recipient account in one
// engine call and reports one status per RCPT line. A recipient's 250 is
// set only after Deliver returned, that is after the record is durable.
func (ss *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	accounts := ss.accounts()
	var b bytes.Buffer
	prefix := ss.envelopeHeaders(len(accounts))
	// SIZE= is the client's word: use it as a hint, capped so that a
	// claim alone cannot reserve much memory.
	if hint := min(ss.fromSize, maxSizeHint); hint > 0 {
		b.Grow(len(prefix) + int(hint))
	}
	b.WriteString(prefix)
	if _, err := b.ReadFrom(&idleReader{r: r, conn: ss.conn, tc: ss.tc, timeout: ss.s.opts.ReadTimeout}); err != nil {
		switch {
		case errors.Is(err, smtp.ErrDataTooLarge):
			return replyTooLarge
		case errors.Is(err, smtp.ErrTooLongLine):
			// go-smtp closes the connection after the replies: its
			// line reader stays failed.
			return replyLineTooLong
		}
		ss.s.opts.Logger.Warn("lmtp: read message", "remote", ss.remote, "err", err)
		return replyTrouble
	}
	queueID := receivedQueueID(b.Bytes()[len(prefix):])

	results, err := ss.s.b.Deliver(ss.s.ctx, engine.Delivery{
		Recipients:   accounts,
		Body:         b.Bytes(),
		InternalDate: ss.s.opts.Now().UTC(),
	})
	if err != nil {
		// The whole delivery failed. Only a message over the engine's own
		// size limit (the prepended lines can tip it over) is the
		// message's fault; anything else is storage trouble the MTA
		// retries.
		reply := replyTrouble
		if errors.Is(err, engine.ErrTooLarge) {
			reply = replyTooLarge
		} else {
			ss.s.opts.Logger.Error("lmtp: deliver", "from", ss.from, "recipients", len(accounts),
				"size", b.Len(), "remote", ss.remote, "err", err)
		}
		for _, rc := range ss.rcpts {
			ss.logDelivery(rc.address, b.Len(), queueID, reply)
		}
		return reply
	}
	byAccount := make(map[uint64]engine.RecipientResult, len(results))
	for _, res := range results {
		byAccount[res.Account] = res
	}
	for _, rc := range ss.rcpts {
		res, ok := byAccount[rc.account]
		if !ok {
			ss.s.opts.Logger.Error("lmtp: deliver: no result for recipient", "rcpt", rc.address, "account", rc.account)
			ss.logDelivery(rc.address, b.Len(), queueID, replyTrouble)
			status.SetStatus(rc.to, replyTrouble)
			continue
		}
		reply := errorReply(res.Err)
		if reply == nil {
			reply = storedReply(res.Item)
		} else if reply == replyTrouble {
			ss.s.opts.Logger.Error("lmtp: deliver", "rcpt", rc.address, "account", rc.account, "err", res.Err)
		}
		ss.logDelivery(rc.address, b.Len(), queueID, reply)
		status.SetStatus(rc.to, reply)
	}
	return nil
}

// logDelivery writes the one line per recipient of a transaction that
// reached DATA: who, how big, the MTA's queue id when the message names
// one, and the reply given.
func (ss *session) logDelivery(rcpt string, size int, queueID string, reply *smtp.SMTPError) {
	ss.s.opts.Logger.Info("lmtp: delivery", "rcpt", rcpt, "from", ss.from, "size", size, "queue_id", queueID,
		"result", replyText(reply), "remote", ss.remote)
}

// logRefused writes the line for a recipient refused at RCPT.
func (ss *session) logRefused(rcpt string, reply *smtp.SMTPError) {
	ss.s.opts.Logger.Info("lmtp: delivery", "rcpt", rcpt, "from", ss.from, "size", ss.fromSize, "queue_id", "",
		"result", replyText(reply), "remote", ss.remote)
}

// accounts returns the distinct recipient accounts in RCPT order: an
// account named twice (two spellings, or an address and an alias) gets one
// copy.
func (ss *session) accounts() []uint64 {
	ids := make([]uint64, 0, len(ss.rcpts))
	seen := make(map[uint64]bool, len(ss.rcpts))
	for _, rc := range ss.rcpts {
		if !seen[rc.account] {
			seen[rc.account] = true
			ids = append(ids, rc.account)
		}
	}
	return ids
}

// envelopeHeaders returns the lines prepended to the stored message:
// Return-Path always, Delivered-To only for a single recipient account, so
// the bytes are the same for every recipient and stored once (see doc.go).
func (ss *session) envelopeHeaders(accounts int) string {
	h := "Return-Path: " + formatPath(ss.from) + "\r\n"
	if accounts == 1 && len(ss.rcpts) > 0 {
		h += "Delivered-To: " + ss.rcpts[0].address + "\r\n"
	}
	return h
}

// idleReader extends the connection's read deadline before every read, so
// ReadTimeout bounds a silence within DATA rather than the whole transfer
// (go-smtp sets the deadline once per command line). Deadlines are network
// wall-clock time, not the injected clock.
type idleReader struct {
	r       io.Reader
	conn    net.Conn
	tc      *trackedConn // message bytes are progress for the idle deadline
	timeout time.Duration
}

func (ir *idleReader) Read(p []byte) (int, error) {
	if ir.tc != nil {
		ir.tc.progress()
	}
	if ir.conn != nil && ir.timeout > 0 {
		if err := ir.conn.SetReadDeadline(time.Now().Add(ir.timeout)); err != nil {
			return 0, err
		}
	}
	return ir.r.Read(p)
}
