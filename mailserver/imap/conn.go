package imap

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
)

// connState is RFC 9051 section 3's connection state.
type connState int

const (
	stateNotAuthenticated connState = iota
	stateAuthenticated
	stateSelected
	stateLogout
)

// conn is one client connection: it reads commands, runs them on its
// session one at a time, and writes their responses. The read side
// (decoder over limitReader over the transport) belongs to the
// connection's goroutine; the write side is shared with the session's
// watch goroutine and timers, which may write an untagged BYE, so every
// response is written under wmu.
type conn struct {
	srv    *Server
	nc     net.Conn // the transport: TCP, or TLS over it
	tcp    net.Conn // the TCP connection under nc, for clientGone
	secure bool     // nc is TLS
	lr     *limitReader
	br     *bufio.Reader
	dec    *decoder

	wmu    sync.Mutex
	w      io.Writer // nc, or a deflate writer over it
	flush  func() error
	bw     *sendBuf
	enc    *encoder
	dead   bool // after BYE or a write error: nothing more is written
	closed bool
	// hold: a command is running, so untagged responses stay in bw
	// until its tagged response (or a full buffer, a continuation
	// request, IDLE) sends them: one write per command for a client that
	// waits for each answer.
	hold bool

	// loggedIn is set at LOGIN/AUTHENTICATE, for the pre-auth timer.
	loggedIn atomic.Bool
	// compressed: COMPRESS DEFLATE is active.
	compressed bool

	sess    *session
	state   connState
	enabled imap.CapSet
	// pendingTLS is set by STARTTLS: the transport to run TLS over once
	// the reader has stopped (it holds what the client sent after the
	// command).
	pendingTLS net.Conn

	// Per command.
	okCode imap.ResponseCode
	okText string
	okArgs string // text after the code name, inside the brackets
	// answered: the command wrote its own tagged response.
	answered bool
	command  string // name of the running command, without "UID "
	alias    map[*imap.FetchItemBodySection]string
	bodyToo  bool // this FETCH asked for BODY and BODYSTRUCTURE
}

func (s *Server) newConn(nc net.Conn, secure bool) *conn {
	c := &conn{srv: s, nc: nc, tcp: nc, secure: secure, enabled: imap.CapSet{}}
	if tc, ok := nc.(*tls.Conn); ok {
		c.tcp = tc.NetConn()
	}
	c.setTransport(nc)
	return c
}

// setTransport (re)builds the read and write stacks over t.
func (c *conn) setTransport(t net.Conn) {
	c.nc = t
	c.lr = newLimitReader(t, c.srv.limits, c.respondRaw)
	if !c.secure && c.srv.opts.TLSConfig != nil {
		c.lr.startTLS = c.startTLS
	}
	c.br = bufio.NewReaderSize(c.lr, 4096)
	c.dec = newDecoder(c.br, c.continuation)
	c.dec.preAuth = c.state == stateNotAuthenticated
	c.w = t
	c.bw = newSendBuf(t)
	c.enc = &encoder{w: c.bw, utf8: c.enabled.Has(imap.CapUTF8Accept)}
	c.flush = c.bw.Flush
}

// respondRaw writes one of the limitReader's own answers.
func (c *conn) respondRaw(line string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead {
		return net.ErrClosed
	}
	c.enc.raw(line)
	return c.flushLocked()
}

func (c *conn) flushLocked() error {
	if c.enc.err == nil {
		c.enc.err = c.flush()
	}
	if c.enc.err != nil {
		c.dead = true
	}
	return c.enc.err
}

// write runs f with the encoder under the write lock and flushes,
// unless a command is running (hold): then its tagged response flushes.
func (c *conn) write(f func(e *encoder)) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead {
		return net.ErrClosed
	}
	f(c.enc)
	if c.hold {
		if c.enc.err != nil {
			c.dead = true
		}
		return c.enc.err
	}
	return c.flushLocked()
}

// writeNow is write with a flush even while a command runs: for a
// continuation request, which the client waits for.
func (c *conn) writeNow(f func(e *encoder)) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead {
		return net.ErrClosed
	}
	f(c.enc)
	return c.flushLocked()
}

// holdWrites starts (on) or ends a command's buffering; at the end what
// is buffered is sent.
func (c *conn) holdWrites(on bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.hold = on
	if on || c.dead || c.bw.Buffered() == 0 {
		return nil
	}
	return c.flushLocked()
}

func (c *conn) continuation() error {
	return c.writeNow(func(e *encoder) { e.raw("+ Ready for literal data\r\n") })
}

// bye writes an untagged BYE and closes the connection; the command loop
// sees the closed connection and ends.
func (c *conn) bye(text string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead {
		return nil
	}
	c.enc.status("", imap.StatusResponseTypeBye, "", text)
	err := c.flushLocked()
	c.dead = true
	c.nc.Close()
	return err
}

// canAuth reports whether LOGIN and AUTHENTICATE are allowed.
func (c *conn) canAuth() bool {
	return c.secure || c.srv.opts.AllowInsecureAuth
}

// caps is the capability list for the connection's state.
func (c *conn) caps() []string {
	out := []string{"IMAP4rev1", "IMAP4rev2"}
	if c.state == stateNotAuthenticated {
		if !c.secure && c.srv.opts.TLSConfig != nil {
			out = append(out, "STARTTLS")
		}
		if c.canAuth() {
			out = append(out, "AUTH=PLAIN", "SASL-IR")
		} else {
			out = append(out, "LOGINDISABLED")
		}
		return append(out, "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE")
	}
	out = append(out, baseCaps...)
	return append(out, fmt.Sprintf("APPENDLIMIT=%d", c.srv.opts.AppendLimit))
}

// baseCaps are the capabilities of an authenticated session.
var baseCaps = []string{
	"LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS", "ESEARCH", "SEARCHRES",
	"LIST-EXTENDED", "LIST-STATUS", "MOVE", "STATUS=SIZE", "BINARY", "CHILDREN", "SPECIAL-USE",
	"CREATE-SPECIAL-USE", "MULTIAPPEND", "SASL-IR", "UTF8=ACCEPT", "CONDSTORE", "QRESYNC",
	"SORT", "SORT=DISPLAY", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "QUOTA", "QUOTA=RES-STORAGE",
	"COMPRESS=DEFLATE",
}

func (c *conn) capsText() string { return strings.Join(c.caps(), " ") }

// serve runs the connection until the client logs out or goes away.
func (c *conn) serve(accepted time.Time) {
	defer func() {
		if v := recover(); v != nil {
			c.srv.log.Error("imap: panic in command", "panic", v, "stack", string(debug.Stack()))
		}
		c.wmu.Lock()
		c.dead = true
		c.wmu.Unlock()
		c.nc.Close()
		if c.sess != nil {
			c.sess.Close()
		}
	}()
	c.sess = newSession(c.srv, c)
	// The pre-authentication deadline: a connection that has not logged
	// in by then is ended, whatever it sent meanwhile (NOOP does not
	// extend it). It runs from accept, so a slow TLS handshake counts.
	deadline := time.AfterFunc(max(c.srv.opts.LoginTimeout-time.Since(accepted), 0), func() {
		if !c.loggedIn.Load() {
			c.bye("Login timeout")
		}
	})
	defer deadline.Stop()
	if err := c.write(func(e *encoder) {
		e.raw("* OK [CAPABILITY ").raw(c.capsText()).raw("] tidemark IMAP ready\r\n")
	}); err != nil {
		return
	}
	for c.state != stateLogout {
		err := c.readCommand()
		if c.pendingTLS != nil {
			if err := c.finishStartTLS(); err != nil {
				return
			}
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
				c.srv.log.Debug("imap: connection ended", "ip", c.sess.ip, "err", err)
			}
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// startTLS is the limitReader's hook for "tag STARTTLS" on the cleartext
// port: it answers, and leaves the switch to the command loop, which
// finds the reader at EOF. rest is what the client sent after the command
// (the start of its TLS handshake), kept for the TLS side.
func (c *conn) startTLS(tag string, rest []byte) bool {
	if c.state != stateNotAuthenticated || tag == "" {
		return false
	}
	if err := c.writeNow(func(e *encoder) { e.status(tag, imap.StatusResponseTypeOK, "", "Begin TLS negotiation now") }); err != nil {
		return false
	}
	var t net.Conn = c.nc
	if len(rest) > 0 {
		t = prefixConn{c.nc, io.MultiReader(strings.NewReader(string(rest)), c.nc)}
	}
	c.pendingTLS = t
	return true
}

func (c *conn) finishStartTLS() error {
	t := c.pendingTLS
	c.pendingTLS = nil
	tc := tls.Server(t, c.srv.opts.TLSConfig)
	tc.SetDeadline(time.Now().Add(time.Minute))
	if err := tc.Handshake(); err != nil {
		return err
	}
	tc.SetDeadline(time.Time{})
	c.secure = true
	c.wmu.Lock()
	c.setTransport(tc)
	c.wmu.Unlock()
	return nil
}

// commandError is how a command ends other than OK: an *imap.Error is
// sent as it is, a syntax error as BAD.
func (c *conn) readCommand() error {
	c.dec.preAuth = c.state == stateNotAuthenticated
	c.dec.lineDone, c.dec.refused, c.dec.depth = false, false, 0
	tag, err := c.dec.tag()
	if err != nil {
		if isSyntax(err) {
			if err := c.dec.discardCommand(); err != nil {
				return err
			}
			return c.write(func(e *encoder) { e.status("", imap.StatusResponseTypeBad, "", "Missing or invalid tag") })
		}
		return err
	}
	var name string
	if err = c.dec.sp(); err == nil {
		name, err = c.dec.atom()
	}
	name = strings.ToUpper(name)
	uid := false
	if err == nil && name == "UID" {
		uid = true
		if err = c.dec.sp(); err == nil {
			name, err = c.dec.atom()
			name = strings.ToUpper(name)
		}
	}
	if err != nil && !isSyntax(err) {
		return err
	}
	start := time.Now()
	var cmdName string
	if err == nil {
		cmdName = name
		if uid {
			cmdName = "UID " + name
		}
		c.okCode, c.okText, c.okArgs, c.alias, c.bodyToo, c.answered = "", "", "", nil, false, false
		c.holdWrites(true)
		err = c.dispatch(tag, name, uid)
	}
	status, herr := c.finish(tag, cmdName, err)
	if ferr := c.holdWrites(false); herr == nil && ferr != nil {
		herr = ferr
	}
	if o := c.srv.opts.Observer; o != nil && cmdName != "" {
		o.Command(cmdName, time.Since(start), status)
	}
	return herr
}

// finish writes the tagged response of a command that returned err and
// reports its status; a non-nil result ends the connection.
func (c *conn) finish(tag, name string, err error) (string, error) {
	var ie *imap.Error
	var se *syntaxError
	switch {
	case err == nil && c.answered:
		return "OK", nil
	case err == nil:
		if err := c.sess.pollAfter(name); err != nil {
			return "NO", err
		}
		text := c.okText
		if text == "" {
			text = name + " completed"
		}
		return "OK", c.write(func(e *encoder) {
			e.raw(tag).raw(" OK ")
			if c.okCode != "" {
				e.raw("[").raw(string(c.okCode))
				if c.okArgs != "" {
					e.sp().raw(c.okArgs)
				}
				e.raw("] ")
			}
			e.raw(text).crlf()
		})
	case errors.As(err, &se):
		if !c.dec.lineDone {
			if derr := c.dec.discardCommand(); derr != nil {
				return "BAD", derr
			}
		}
		code := se.code
		if code == "" {
			code = imap.ResponseCodeClientBug
		}
		return "BAD", c.write(func(e *encoder) { e.status(tag, imap.StatusResponseTypeBad, code, se.msg) })
	case errors.As(err, &ie):
		if !c.dec.lineDone {
			if derr := c.dec.discardCommand(); derr != nil {
				return string(ie.Type), derr
			}
		}
		if ie.Type == imap.StatusResponseTypeNo {
			// The updates due go out before a NO too: after NO
			// [EXPUNGEISSUED] the client learns which messages went
			// (Dovecot does the same).
			if err := c.sess.pollAfter(name); err != nil {
				return "NO", err
			}
		}
		return string(ie.Type), c.write(func(e *encoder) { e.status(tag, ie.Type, ie.Code, ie.Text) })
	}
	return "NO", err
}

// prefixConn reads r (bytes already received, then the connection).
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (p prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// serveListener accepts connections on l until Close; with tlsConfig it
// terminates TLS (implicit TLS) before the session starts.
func (s *Server) serveListener(l net.Listener, tlsConfig *tls.Config) error {
	s.addListener(l)
	defer s.removeListener(l)
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		accepted := time.Now()
		ip := remoteIP(nc)
		if why := s.climit.admit(ip); why != "" {
			s.refusedConn(ip, why)
			go refuse(nc, tlsConfig, why)
			continue
		}
		go func() {
			defer s.climit.release(ip)
			if !s.track(nc) {
				nc.Close()
				return
			}
			defer s.untrack(nc)
			if o := s.opts.Observer; o != nil {
				o.SessionOpened()
				defer o.SessionClosed()
			}
			secure := false
			if tlsConfig != nil {
				tc := tls.Server(nc, tlsConfig)
				tc.SetDeadline(accepted.Add(min(time.Minute, s.opts.LoginTimeout)))
				if err := tc.Handshake(); err != nil {
					nc.Close()
					return
				}
				tc.SetDeadline(time.Time{})
				nc, secure = tc, true
			}
			s.newConn(nc, secure).serve(accepted)
		}()
	}
}
