package imap

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// session is one client connection. The library calls its methods one at
// a time from the connection's goroutine, except Idle, which runs on its
// own goroutine while the library waits for DONE; the watch goroutine and
// the idle timer touch only the atomic fields and notify.
type session struct {
	srv  *Server
	conn *imapserver.Conn
	ip   string
	ctx  context.Context
	stop context.CancelFunc

	// Authenticated state.
	acct        uint64
	address     string
	authed      bool
	cancelWatch func()

	// Selected state. sel is nil outside it; selID mirrors sel's folder for
	// the watch goroutine.
	sel    *selected
	selID  atomic.Uint64
	gen    atomic.Uint64 // bumped by every change that may concern sel
	notify chan struct{} // wakes Idle; capacity 1

	// uw is the last UpdateWriter the library handed to Poll or Idle; it
	// stays valid for the connection's life and lets FETCH and STORE
	// announce new keywords through the library's encoder.
	uw *imapserver.UpdateWriter

	timerMu sync.Mutex
	timer   *time.Timer
	active  atomic.Int32 // commands in progress
}

var (
	_ imapserver.SessionIMAP4rev2   = (*session)(nil)
	_ imapserver.SessionSASL        = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
)

func newSession(s *Server, c *imapserver.Conn) *session {
	ctx, stop := context.WithCancel(context.Background())
	sess := &session{srv: s, conn: c, ctx: ctx, stop: stop, notify: make(chan struct{}, 1)}
	if nc := c.NetConn(); nc != nil {
		if host, _, err := net.SplitHostPort(nc.RemoteAddr().String()); err == nil {
			sess.ip = host
		} else {
			sess.ip = nc.RemoteAddr().String()
		}
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
	_ = s.conn.Bye("Autologout; idle for too long")
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
// per-account connection limit. The TLS policy is enforced by the library
// before Login is called (PRIVACYREQUIRED, LOGINDISABLED).
func (s *session) Login(username, password string) error {
	defer s.busy()()
	if s.authed {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Already authenticated"}
	}
	if s.srv.lock.locked(username, s.ip) {
		s.srv.log.Warn("imap: login refused, locked out", "address", username, "ip", s.ip)
		return errAuthFailed
	}
	acct, err := s.srv.b.Authenticate(s.ctx, username, password)
	if err != nil {
		ie := translate(s.srv.log, "login", err)
		if ie == errAuthFailed && s.srv.lock.fail(username, s.ip) {
			s.srv.log.Warn("imap: address locked after failed logins", "address", username, "ip", s.ip)
		}
		return ie
	}
	s.srv.lock.succeed(username, s.ip)
	if !s.srv.acquire(acct.ID) {
		return errTooManyConns
	}
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

// AuthenticateMechanisms offers PLAIN only: the engine verifies
// passwords, so challenge-response mechanisms are impossible.
func (s *session) AuthenticateMechanisms() []string { return []string{sasl.Plain} }

// Authenticate implements AUTHENTICATE PLAIN through Login, so the
// lockout and limits apply alike. An authorization identity other than the
// user is refused (no proxy authentication).
func (s *session) Authenticate(mech string) (sasl.Server, error) {
	defer s.busy()()
	if mech != sasl.Plain {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Unsupported SASL mechanism"}
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthorizationFailed, Text: "Authorization identity not supported"}
		}
		return s.Login(username, password)
	}), nil
}

// Namespace: one personal namespace, "/" delimited, no shared folders.
func (s *session) Namespace() (*imap.NamespaceData, error) {
	defer s.busy()()
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
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
					_ = s.conn.Bye(why)
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

func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	defer s.busy()()
	s.uw = w
	return s.sync(w, allowExpunge)
}

func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.touch()
	s.uw = w
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
