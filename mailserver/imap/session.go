package imap

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// session is the per-connection state behind the command layer: the
// account, the selected folder's view and the engine watch. The
// connection calls its methods one at a time from its goroutine; the
// watch goroutine and the idle timer touch only the atomic fields and
// notify, and write only through the connection's locked writer.
type session struct {
	srv  *Server
	c    *conn
	ip   string
	ctx  context.Context
	stop context.CancelFunc

	// Authenticated state.
	acct    uint64
	address string
	authed  bool
	// at serves every mailbox name of a point-in-time session (a
	// LoginRouter's login), atNames are what LIST shows in it.
	at          Source
	atNames     []ListedMailbox
	cancelWatch func()

	// Selected state. sel is nil outside it; selID mirrors sel's folder for
	// the watch goroutine.
	sel *selected
	// last is the view most recently unselected, which a SELECT of the
	// same folder builds on (reselect).
	last   *selected
	selID  atomic.Uint64
	gen    atomic.Uint64 // bumped by every change that may concern sel
	notify chan struct{} // wakes Idle; capacity 1

	// fetchBuf is reused by FETCH to read message bytes (readBlobBuf).
	fetchBuf []byte

	timerMu sync.Mutex
	timer   *time.Timer
	active  atomic.Int32 // commands in progress
}

func newSession(s *Server, c *conn) *session {
	ctx, stop := context.WithCancel(context.Background())
	sess := &session{srv: s, c: c, ctx: ctx, stop: stop, notify: make(chan struct{}, 1)}
	if host, _, err := net.SplitHostPort(c.nc.RemoteAddr().String()); err == nil {
		sess.ip = host
	} else {
		sess.ip = c.nc.RemoteAddr().String()
	}
	sess.timer = time.AfterFunc(s.opts.IdleTimeout, sess.autologout)
	return sess
}

// touch restarts the idle timer; every command reaches the session
// through at least one method that calls it (Poll runs after each one).
func (s *session) touch() {
	s.timerMu.Lock()
	if s.timer != nil {
		s.timer.Reset(s.srv.opts.IdleTimeout)
	}
	s.timerMu.Unlock()
}

// busy marks a command in progress until the returned func runs: the
// idle timer never fires in the middle of a command (a slow LOGIN, a long
// FETCH), and restarts when it ends.
func (s *session) busy() func() {
	s.active.Add(1)
	s.touch()
	return func() {
		s.active.Add(-1)
		s.touch()
	}
}

func (s *session) autologout() {
	if s.active.Load() > 0 {
		s.touch()
		return
	}
	_ = s.c.bye("Autologout; idle for too long")
}

// Close ends the session: stops the timer, the watch and frees the
// account's connection slot.
func (s *session) Close() error {
	s.timerMu.Lock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.timerMu.Unlock()
	s.stop()
	s.unselect()
	if s.authed {
		s.cancelWatch()
		s.srv.release(s.acct)
		s.authed = false
	}
	return nil
}

// Login authenticates address/password, applying the lockout and the
// per-account connection limit. The TLS policy is enforced by the
// command layer before Login is called (PRIVACYREQUIRED, LOGINDISABLED).
func (s *session) Login(username, password string) error {
	defer s.busy()()
	if s.authed {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Already authenticated"}
	}
	if s.srv.lock.locked(username, s.ip) {
		s.srv.log.Warn("imap: login refused, locked out", "address", truncate(username, 64), "ip", s.ip)
		s.loginDone(username, "locked", "locked out after failed logins")
		s.failDelay(username)
		return errAuthFailed
	}
	user := username
	lr, _ := s.srv.opts.Sources.(LoginRouter)
	atLogin := false
	if lr != nil {
		u, ok, err := lr.SplitLogin(username)
		if ok && err != nil {
			s.loginDone(username, "failed", err.Error())
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: truncate(err.Error(), 200)}
		}
		if ok {
			user, atLogin = u, true
		}
	}
	acct, err := s.srv.b.Authenticate(s.ctx, user, password)
	if err != nil {
		ie := translate(s.srv.log, "login", err)
		if ie == errAuthFailed && s.srv.lock.fail(username, s.ip) {
			s.srv.log.Warn("imap: address locked after failed logins", "address", truncate(username, 64), "ip", s.ip)
		}
		s.loginDone(username, "failed", ie.Error())
		if ie == errAuthFailed {
			s.failDelay(username)
		}
		return ie
	}
	s.srv.lock.succeed(username, s.ip)
	if atLogin {
		src, names, err := lr.SessionSource(s.ctx, acct.ID, username)
		if err != nil {
			s.loginDone(username, "failed", err.Error())
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: truncate(err.Error(), 200)}
		}
		s.at, s.atNames = src, names
	}
	if !s.srv.acquire(acct.ID) {
		s.loginDone(username, "failed", errTooManyConns.Text)
		return errTooManyConns
	}
	s.loginDone(username, "ok", "")
	s.acct, s.address, s.authed = acct.ID, acct.Address, true
	if !s.srv.recent.started(acct.ID) {
		if folders, err := s.srv.b.ListFolders(s.ctx, acct.ID); err == nil {
			s.srv.recent.start(acct.ID, folders)
		}
	}
	ch, cancel := s.srv.b.Watch(acct.ID)
	s.cancelWatch = cancel
	go s.watch(ch)
	return nil
}

// loginDone logs one line per login attempt (user, client IP, result and,
// for a refusal, the reason given to the client) and counts it.
// Failed attempts are logged at most loginLogBurst a second; the next
// line logged says how many were left out.
func (s *session) loginDone(username, result, reason string) {
	s.srv.observeLogin(result)
	n, ok := s.srv.loginLog.allow(result == "ok", s.srv.opts.Now())
	if !ok {
		return
	}
	args := []any{"user", truncate(username, 64), "ip", s.ip, "result", result, "reason", reason}
	if n > 0 {
		args = append(args, "failures_not_logged", n)
	}
	s.srv.log.Info("imap: login", args...)
}

// watch turns engine changes into resync hints for the selected folder,
// and ends the session when its account is put in maintenance or closed.
func (s *session) watch(ch <-chan engine.Change) {
	for {
		select {
		case <-s.ctx.Done():
			return
		case c, ok := <-ch:
			if !ok {
				return
			}
			if c.Kind == engine.ChangeAccount || c.Kind == engine.ChangeOverflow {
				if why := s.outOfService(); why != "" {
					s.srv.log.Info("imap: session closed", "account", s.address, "why", why)
					_ = s.c.bye(why)
					return
				}
			}
			if sel := s.selID.Load(); sel == 0 || (c.Folder != 0 && c.Folder != sel) {
				continue
			}
			s.bump()
		}
	}
}

// outOfService says why the session's account can no longer be served
// (maintenance, during an in-place restore; closed), or "".
func (s *session) outOfService() string {
	a, err := s.srv.b.GetAccount(s.ctx, s.acct)
	if err != nil {
		return ""
	}
	switch a.Status {
	case event.StatusMaintenance:
		return "Account in maintenance (an administrator is restoring it); log in again later"
	case event.StatusClosed:
		return "Account closed"
	}
	return ""
}

// bump marks the selected view stale and wakes a running IDLE.
func (s *session) bump() {
	s.gen.Add(1)
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// pollAfter sends the updates due before a command's tagged response.
// EXPUNGE is not allowed after FETCH, STORE and SEARCH (RFC 9051 section
// 7.5.1), whose UID forms allow it.
//
// NOOP (and CHECK), the client's poll, always asks the engine what changed
// since the view's MODSEQ: the watch goroutine may not yet have taken a
// change another session's command made before it was answered, and a
// poll right after it must report it (RFC 9051 section 6.1.2). Other
// commands rely on the watch hint alone.
func (s *session) pollAfter(name string) error {
	if name == "NOOP" || name == "CHECK" {
		s.gen.Add(1)
	}
	switch name {
	case "", "FETCH", "STORE", "SEARCH", "SORT", "THREAD":
		if name == "" {
			return nil
		}
		return s.sync(s.c, false)
	}
	return s.sync(s.c, true)
}

// Idle sends updates as they happen until stop is closed (the client
// sent its DONE line) or the session ends.
func (s *session) Idle(w *conn, stop <-chan struct{}) error {
	s.touch()
	for {
		if err := s.sync(w, true); err != nil {
			return err
		}
		select {
		case <-s.notify:
		case <-stop:
			return nil
		case <-s.ctx.Done():
			return nil
		}
	}
}

// failDelay waits the failed-login delay of the client IP or of the
// address, whichever is longer (lockout.delayFor), before a failure is
// answered, or until the session ends.
func (s *session) failDelay(username string) {
	if s.srv.opts.LockoutMaxFailures < 0 {
		return
	}
	d := s.srv.lock.delayFor(username, s.ip)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
	}
}
