package imap

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// connLimits counts open connections, in total and per client IP, against
// Options.MaxConnections and MaxConnectionsPerIP. Every accepted
// connection is counted from accept (before its TLS handshake) to close,
// authenticated or not, so a flood of idle or half-open connections from
// one address cannot use up the server's file descriptors.
type connLimits struct {
	max, perIPMax int

	mu    sync.Mutex
	total int
	perIP map[string]int
}

func newConnLimits(o *Options) *connLimits {
	return &connLimits{max: o.MaxConnections, perIPMax: o.MaxConnectionsPerIP, perIP: make(map[string]int)}
}

// admit counts a connection from ip, or says why it is refused.
func (l *connLimits) admit(ip string) (why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.max > 0 && l.total >= l.max:
		return "Too many connections, try again later"
	case l.perIPMax > 0 && l.perIP[ip] >= l.perIPMax:
		return "Too many connections from your address, try again later"
	}
	l.total++
	l.perIP[ip]++
	return ""
}

func (l *connLimits) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// refuse answers an over-cap connection with an untagged BYE and closes
// it. On the implicit-TLS port the BYE is sent inside TLS (a client could
// not read it otherwise), after a handshake bounded by a short deadline.
// Nothing waits for the client to read: the line fits a new socket's
// buffer and the write has a deadline.
func refuse(nc net.Conn, tlsConfig *tls.Config, why string) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if tlsConfig != nil {
		tc := tls.Server(nc, tlsConfig)
		if tc.Handshake() != nil {
			return
		}
		nc = tc
	}
	_, _ = nc.Write([]byte("* BYE [UNAVAILABLE] " + why + "\r\n"))
}

// remoteIP is the address the per-IP cap and the login accounting count
// against: the IP without the port.
func remoteIP(c net.Conn) string {
	a := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(a); err == nil {
		return host
	}
	return a
}

// refusedConn logs a refused connection: one line at most every
// refusedLogEvery, with the number refused since the last line, so a
// flood does not turn into a flood of log lines.
func (s *Server) refusedConn(ip, why string) {
	s.refusedLog.mu.Lock()
	defer s.refusedLog.mu.Unlock()
	s.refusedLog.n++
	now := time.Now()
	if now.Sub(s.refusedLog.last) < refusedLogEvery {
		return
	}
	s.log.Warn("imap: connection refused", "ip", ip, "why", why, "refused_since_last_line", s.refusedLog.n)
	s.refusedLog.last, s.refusedLog.n = now, 0
}

const refusedLogEvery = 10 * time.Second

// rateLog counts events between log lines.
type rateLog struct {
	mu    sync.Mutex
	last  time.Time
	n     int
	burst int // lines written since last (allow)
}

// loginLogBurst is how many failed-login lines are written in one second;
// more are counted and the count is given on the next line written.
const loginLogBurst = 20

// allow reports whether a login line may be written now and how many
// failures were left out before it. Successful logins are always logged.
func (r *rateLog) allow(ok bool, now time.Time) (skipped int, write bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.last) >= time.Second {
		r.last, r.burst = now, 0
	}
	if !ok {
		if r.burst >= loginLogBurst {
			r.n++
			return 0, false
		}
		r.burst++
	}
	skipped, r.n = r.n, 0
	return skipped, true
}
