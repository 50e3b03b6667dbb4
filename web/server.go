package web

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configures a Server. Source and Metrics are required.
type Options struct {
	Source  Source
	Metrics *Metrics
	// Backend enables the dashboard; nil serves /metrics and the health
	// endpoints only.
	Backend Backend
	// Ops is the operation queue the dashboard shows and stops; nil
	// shows none.
	Ops Ops
	// Logger receives logins, refused requests and server errors.
	// Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of sessions, login limits and the dashboard's
	// times. Default time.Now.
	Now func() time.Time
	// SessionIdle ends a dashboard session unused for this long, and
	// SessionMax any session this old. Defaults 30 minutes and 12 hours.
	SessionIdle, SessionMax time.Duration
	// LoginMaxFailures failed logins from one client address, or for one
	// account, within LoginWindow refuse further attempts until the
	// window has passed. Defaults 5 and 15 minutes.
	LoginMaxFailures int
	LoginWindow      time.Duration
}

func (o *Options) withDefaults() Options {
	c := *o
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SessionIdle <= 0 {
		c.SessionIdle = 30 * time.Minute
	}
	if c.SessionMax <= 0 {
		c.SessionMax = 12 * time.Hour
	}
	if c.LoginMaxFailures <= 0 {
		c.LoginMaxFailures = 5
	}
	if c.LoginWindow <= 0 {
		c.LoginWindow = 15 * time.Minute
	}
	return c
}

//go:embed templates/*.html static/*
var assets embed.FS

// Server is the HTTP listener's handler and its server.
type Server struct {
	o        Options
	mux      *http.ServeMux
	sessions *sessionStore
	limiter  *loginLimiter
	pages    *pages

	mu   sync.Mutex
	srv  *http.Server
	stop chan struct{}
	wg   sync.WaitGroup
}

// New makes a Server.
func New(o Options) (*Server, error) {
	if o.Source == nil || o.Metrics == nil {
		return nil, errors.New("web: Source and Metrics are required")
	}
	s := &Server{o: o.withDefaults(), mux: http.NewServeMux(), stop: make(chan struct{})}
	s.sessions = newSessionStore(s.o.Now, s.o.SessionIdle, s.o.SessionMax)
	s.limiter = newLoginLimiter(s.o.Now, s.o.LoginMaxFailures, s.o.LoginWindow)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.o.Metrics.Registry(), promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4, Timeout: 30 * time.Second}))
	s.mux.HandleFunc("GET /healthz", s.handleHealthz)
	s.mux.HandleFunc("GET /readyz", s.handleReadyz)
	if s.o.Backend != nil {
		p, err := parsePages()
		if err != nil {
			return nil, err
		}
		s.pages = p
		static, _ := fs.Sub(assets, "static")
		s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
		s.routes()
	}
	return s, nil
}

// Handler returns the server's handler (for tests and for serving it
// elsewhere).
func (s *Server) Handler() http.Handler { return securityHeaders(s.mux) }

// Serve serves l until Shutdown, with deadlines on every request; it
// returns http.ErrServerClosed after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(s.o.Logger.Handler(), slog.LevelWarn)}
	s.mu.Lock()
	if s.srv != nil {
		s.mu.Unlock()
		return errors.New("web: Serve called twice")
	}
	s.srv = srv
	s.mu.Unlock()
	s.wg.Add(1)
	go s.sample()
	return srv.Serve(l)
}

// Shutdown stops accepting, lets requests in flight finish until ctx ends,
// then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	s.wg.Wait()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		srv.Close()
	}
	return err
}

// sample feeds the delivery rate and drops expired sessions.
func (s *Server) sample() {
	defer s.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	s.o.Metrics.rate.tick(s.o.Now())
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.o.Metrics.rate.tick(s.o.Now())
			s.sessions.expire()
			s.limiter.expire()
		}
	}
}

// securityHeaders sets the headers every answer carries: no framing, no
// sniffing, scripts and styles only from this server.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.ServeHTTP(w, r)
	})
}
