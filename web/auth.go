package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Cookie names. The session cookie names a server-side session; the
// login cookie carries the token the login form must echo (the login's
// CSRF protection, before any session exists).
const (
	sessionCookie = "tidemark_session"
	loginCookie   = "tidemark_login"
)

// maxSessions bounds the sessions kept; the oldest is dropped beyond it.
const maxSessions = 1000

// session is one administrator's login.
type session struct {
	user    string
	csrf    string
	created time.Time
	used    time.Time
}

type sessionStore struct {
	now       func() time.Time
	idle, max time.Duration
	mu        sync.Mutex
	byToken   map[string]*session
}

func newSessionStore(now func() time.Time, idle, max time.Duration) *sessionStore {
	return &sessionStore{now: now, idle: idle, max: max, byToken: map[string]*session{}}
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for user and returns its token.
func (st *sessionStore) create(user string) (string, *session) {
	now := st.now()
	tok := randomToken()
	s := &session{user: user, csrf: randomToken(), created: now, used: now}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.byToken) >= maxSessions {
		var oldest string
		for k, v := range st.byToken {
			if oldest == "" || v.used.Before(st.byToken[oldest].used) {
				oldest = k
			}
		}
		delete(st.byToken, oldest)
	}
	st.byToken[tok] = s
	return tok, s
}

// get returns the live session of tok and marks it used.
func (st *sessionStore) get(tok string) *session {
	if tok == "" {
		return nil
	}
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.byToken[tok]
	if s == nil {
		return nil
	}
	if now.Sub(s.used) > st.idle || now.Sub(s.created) > st.max {
		delete(st.byToken, tok)
		return nil
	}
	s.used = now
	cp := *s
	return &cp
}

func (st *sessionStore) remove(tok string) {
	st.mu.Lock()
	delete(st.byToken, tok)
	st.mu.Unlock()
}

func (st *sessionStore) expire() {
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, s := range st.byToken {
		if now.Sub(s.used) > st.idle || now.Sub(s.created) > st.max {
			delete(st.byToken, k)
		}
	}
}

// loginLimiter counts failed logins per client address and per account
// within a window.
type loginLimiter struct {
	now    func() time.Time
	max    int
	window time.Duration
	mu     sync.Mutex
	fails  map[string][]time.Time // "ip:" + address or "user:" + account
}

// maxLimiterKeys bounds the table; beyond it every attempt is refused
// until old entries expire, which only a flood of distinct addresses
// reaches.
const maxLimiterKeys = 100000

func newLoginLimiter(now func() time.Time, max int, window time.Duration) *loginLimiter {
	return &loginLimiter{now: now, max: max, window: window, fails: map[string][]time.Time{}}
}

func (l *loginLimiter) recent(k string, now time.Time) []time.Time {
	f := l.fails[k]
	i := 0
	for i < len(f) && now.Sub(f[i]) >= l.window {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(l.fails, k)
	} else {
		l.fails[k] = f
	}
	return f
}

// allowed reports whether a login for user from ip may be tried.
func (l *loginLimiter) allowed(ip, user string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) >= maxLimiterKeys {
		return false
	}
	return len(l.recent("ip:"+ip, now)) < l.max && len(l.recent("user:"+strings.ToLower(user), now)) < l.max
}

func (l *loginLimiter) fail(ip, user string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range []string{"ip:" + ip, "user:" + strings.ToLower(user)} {
		l.fails[k] = append(l.recent(k, now), now)
	}
}

func (l *loginLimiter) expire() {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.fails {
		l.recent(k, now)
	}
}

// clientIP is the peer's address (a reverse proxy in front would make
// every client one: the limit then holds for all together).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// sameToken compares two tokens in constant time; empty never matches.
func sameToken(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// currentSession returns the request's session and its token, or nil.
func (s *Server) currentSession(r *http.Request) (*session, string) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, ""
	}
	return s.sessions.get(c.Value), c.Value
}

// sameOrigin refuses a request whose Origin header (sent by browsers on
// POST) names another site.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	i := strings.Index(o, "://")
	return i >= 0 && o[i+3:] == r.Host
}

// maxFormBytes bounds a form body.
const maxFormBytes = 64 << 10

// authed wraps a dashboard handler: without a session a GET is sent to
// the login page and anything else refused; a POST must carry the
// session's CSRF token and come from this origin.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		sess, _ := s.currentSession(r)
		if sess == nil {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, ".json") {
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.o.Logger.Warn("web: request without a session refused", "method", r.Method, "path", r.URL.Path, "ip", clientIP(r))
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "bad form", http.StatusBadRequest)
				return
			}
			if !sameOrigin(r) || !sameToken(r.PostForm.Get("csrf"), sess.csrf) {
				s.o.Logger.Warn("web: POST with a missing or wrong CSRF token refused", "path", r.URL.Path, "user", sess.user, "ip", clientIP(r))
				http.Error(w, "invalid or missing CSRF token", http.StatusForbidden)
				return
			}
		}
		h(w, r, sess)
	}
}
