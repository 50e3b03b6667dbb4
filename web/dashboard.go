package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidemark/tidemark/operations"
)

// pageTimeout bounds the reads behind one page.
const pageTimeout = 20 * time.Second

// pages are the parsed templates, one set per page over the layout.
type pages struct{ t map[string]*template.Template }

var pageNames = []string{"login", "overview", "accounts", "timeline", "ops", "op", "volumes", "restore"}

func parsePages() (*pages, error) {
	p := &pages{t: map[string]*template.Template{}}
	for _, n := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		p.t[n] = t
	}
	return p, nil
}

var _ fs.FS = assets

// view is what every page gets.
type view struct {
	Title string
	Page  string
	User  string
	CSRF  string
	Now   time.Time
	Error string
	Data  any
}

func (s *Server) render(w http.ResponseWriter, status int, page string, sess *session, title string, data any, errMsg string) {
	v := view{Title: title, Page: page, Now: s.o.Now().UTC(), Data: data, Error: errMsg}
	if sess != nil {
		v.User, v.CSRF = sess.user, sess.csrf
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var b strings.Builder
	if err := s.pages.t[page].Execute(&b, v); err != nil {
		s.o.Logger.Error("web: render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /login", s.handleLoginForm)
	m.HandleFunc("POST /login", s.handleLogin)
	m.HandleFunc("POST /logout", s.authed(s.handleLogout))
	m.HandleFunc("GET /{$}", s.authed(s.handleOverview))
	m.HandleFunc("GET /accounts", s.authed(s.handleAccounts))
	m.HandleFunc("GET /timeline", s.authed(s.handleTimeline))
	m.HandleFunc("GET /ops", s.authed(s.handleOps))
	m.HandleFunc("GET /ops.json", s.authed(s.handleOpsJSON))
	m.HandleFunc("GET /ops/{id}", s.authed(s.handleOp))
	m.HandleFunc("POST /ops/{id}/stop", s.authed(s.handleStop))
	m.HandleFunc("GET /volumes", s.authed(s.handleVolumes))
	m.HandleFunc("GET /restore", s.authed(s.handleRestoreForm))
	m.HandleFunc("POST /restore", s.authed(s.handleRestore))
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// safeNext keeps a post-login redirect on this site.
func safeNext(n string) string {
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.HasPrefix(n, "/\\") || strings.ContainsAny(n, "\r\n") {
		return "/"
	}
	return n
}

type loginData struct{ Next, Token, Address string }

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	if sess, _ := s.currentSession(r); sess != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.loginPage(w, r, http.StatusOK, "", "")
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, status int, addr, msg string) {
	tok := randomToken()
	setCookie(w, loginCookie, tok, 3600)
	next := safeNext(r.FormValue("next"))
	s.render(w, status, "login", nil, "Log in", loginData{Next: next, Token: tok, Address: addr}, msg)
}

// handleLogin checks the login form's token against the login cookie,
// the failure limits, then the password; a success starts a session.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameOrigin(r) || !sameToken(c.Value, r.PostForm.Get("csrf")) {
		s.o.Logger.Warn("web: login with a missing or wrong CSRF token refused", "ip", clientIP(r))
		http.Error(w, "invalid or missing CSRF token: reload the login page", http.StatusForbidden)
		return
	}
	ip, addr, pw := clientIP(r), strings.TrimSpace(r.PostForm.Get("address")), r.PostForm.Get("password")
	if !s.limiter.allowed(ip, addr) {
		s.o.Metrics.webLogin("limited")
		s.o.Logger.Warn("web: login refused: too many failures", "user", addr, "ip", ip)
		s.loginPage(w, r, http.StatusTooManyRequests, addr, "Too many failed logins: try again later.")
		return
	}
	if len(addr) > 320 || len(pw) > 1024 {
		s.loginPage(w, r, http.StatusBadRequest, "", "Address or password too long.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	if err := s.o.Backend.Authenticate(ctx, addr, pw); err != nil {
		s.limiter.fail(ip, addr)
		s.o.Metrics.webLogin("failed")
		why := "wrong address or password"
		if errors.Is(err, ErrNotAdmin) {
			why = "not an administrator"
		}
		s.o.Logger.Warn("web: login failed", "user", addr, "ip", ip, "reason", why)
		s.loginPage(w, r, http.StatusUnauthorized, addr, "Wrong address or password, or not an administrator.")
		return
	}
	s.o.Metrics.webLogin("ok")
	s.o.Logger.Info("web: login", "user", addr, "ip", ip)
	tok, _ := s.sessions.create(addr)
	setCookie(w, sessionCookie, tok, int(s.o.SessionMax.Seconds()))
	setCookie(w, loginCookie, "", -1)
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, sess *session) {
	if _, tok := s.currentSession(r); tok != "" {
		s.sessions.remove(tok)
	}
	setCookie(w, sessionCookie, "", -1)
	s.o.Logger.Info("web: logout", "user", sess.user)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

type overviewData struct {
	Backup       BackupStatus
	DeliveryRate float64
	Deliveries   float64
	IMAPSessions int64
	IMAPKnown    bool
	Queued       int
	Running      int
	Checks       []Check
	Status       string
	Volumes      []Volume
}

func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	d := overviewData{Backup: s.o.Backend.Backup(ctx), DeliveryRate: s.o.Metrics.DeliveryRate(s.o.Now()),
		Deliveries: s.o.Metrics.Deliveries(), IMAPSessions: s.o.Metrics.IMAPSessionsOpen(), IMAPKnown: s.o.Metrics.imapSeen.Load()}
	rd := s.readiness(ctx)
	d.Checks, d.Status = rd.Checks, rd.Status
	if s.o.Ops != nil {
		for _, op := range s.o.Ops.List() {
			switch op.State {
			case operations.Queued:
				d.Queued++
			case operations.Running:
				d.Running++
			}
		}
	}
	d.Volumes, _ = s.o.Backend.Volumes(ctx)
	s.render(w, http.StatusOK, "overview", sess, "Overview", d, "")
}

func (s *Server) handleAccounts(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	accts, err := s.o.Backend.Accounts(ctx)
	msg := ""
	if err != nil {
		msg = "The backup catalog cannot be read: " + err.Error()
	}
	s.render(w, http.StatusOK, "accounts", sess, "Accounts", accts, msg)
}

// parseFormTime reads a time picker's value (UTC; "" is zero). It takes
// the datetime-local forms and RFC 3339.
func parseFormTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02T15:04:05.999", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time such as 2026-12-01T10:00 (UTC)", v)
}

type timelineData struct {
	T         Timeline
	SVG       template.HTML
	Recent    []Deletion // newest first, at most 50
	DelTotal  int
	AtInput   string
	FromInput string
	ToInput   string
}

func (s *Server) handleTimeline(w http.ResponseWriter, r *http.Request, sess *session) {
	acct := strings.TrimSpace(r.URL.Query().Get("account"))
	if acct == "" {
		http.Redirect(w, r, "/accounts", http.StatusSeeOther)
		return
	}
	at, err := parseFormTime(r.URL.Query().Get("at"))
	if err != nil {
		s.render(w, http.StatusBadRequest, "timeline", sess, "Timeline", timelineData{T: Timeline{Account: acct}}, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	t, err := s.o.Backend.Timeline(ctx, acct, at)
	if err != nil {
		s.render(w, http.StatusNotFound, "timeline", sess, "Timeline", timelineData{T: Timeline{Account: acct}}, err.Error())
		return
	}
	d := timelineData{T: t, SVG: drawTimeline(t), DelTotal: len(t.Deletions)}
	for i := len(t.Deletions) - 1; i >= 0 && len(d.Recent) < 50; i-- {
		d.Recent = append(d.Recent, t.Deletions[i])
	}
	if !t.At.IsZero() {
		d.AtInput = t.At.UTC().Format("2006-01-02T15:04:05")
	}
	if len(t.Deletions) > 0 {
		d.FromInput = t.Deletions[0].Time.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05")
	}
	s.render(w, http.StatusOK, "timeline", sess, "Timeline of "+acct, d, "")
}

// opView is an operation as the queue pages show it.
type opView struct {
	operations.Operation
	Percent  int // -1 when the totals are unknown
	Stopable bool
}

func viewOp(op operations.Operation) opView {
	v := opView{Operation: op, Percent: -1, Stopable: !op.State.Ended()}
	if f := op.Progress.Fraction(); f >= 0 {
		v.Percent = int(f * 100)
	}
	if op.State == operations.Done {
		v.Percent = 100
	}
	return v
}

func (s *Server) opsList() []opView {
	if s.o.Ops == nil {
		return nil
	}
	ops := s.o.Ops.List()
	slices.Reverse(ops) // newest first
	if len(ops) > 200 {
		ops = ops[:200]
	}
	out := make([]opView, len(ops))
	for i, op := range ops {
		out[i] = viewOp(op)
	}
	return out
}

func (s *Server) handleOps(w http.ResponseWriter, r *http.Request, sess *session) {
	s.render(w, http.StatusOK, "ops", sess, "Operations", s.opsList(), "")
}

// handleOpsJSON feeds the pages' live progress.
func (s *Server) handleOpsJSON(w http.ResponseWriter, r *http.Request, sess *session) {
	w.Header().Set("Content-Type", "application/json")
	ops := s.opsList()
	type row struct {
		ID       uint64 `json:"id"`
		State    string `json:"state"`
		Percent  int    `json:"percent"`
		Items    int64  `json:"items"`
		Total    int64  `json:"items_total"`
		Step     string `json:"step"`
		Error    string `json:"error,omitempty"`
		Stopable bool   `json:"stopable"`
	}
	out := make([]row, len(ops))
	for i, o := range ops {
		out[i] = row{o.ID, string(o.State), o.Percent, o.Progress.Items, o.Progress.ItemsTotal, o.Progress.Step, o.Error, o.Stopable}
	}
	json.NewEncoder(w).Encode(out)
}

func (s *Server) opFromPath(w http.ResponseWriter, r *http.Request) (operations.Operation, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || s.o.Ops == nil {
		http.Error(w, "no such operation", http.StatusNotFound)
		return operations.Operation{}, false
	}
	op, err := s.o.Ops.Get(id)
	if err != nil {
		http.Error(w, "no such operation", http.StatusNotFound)
		return operations.Operation{}, false
	}
	return op, true
}

type opData struct {
	Op     opView
	Params string
	Report string
}

func (s *Server) handleOp(w http.ResponseWriter, r *http.Request, sess *session) {
	op, ok := s.opFromPath(w, r)
	if !ok {
		return
	}
	d := opData{Op: viewOp(op), Params: indentJSON(op.Params), Report: indentJSON(op.Report)}
	s.render(w, http.StatusOK, "op", sess, fmt.Sprintf("Operation %d", op.ID), d, "")
}

func indentJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b strings.Builder
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.Encode(v)
	return b.String()
}

func (s *Server) handleStop(w http.ResponseWriter, r *http.Request, sess *session) {
	op, ok := s.opFromPath(w, r)
	if !ok {
		return
	}
	if _, err := s.o.Ops.Stop(op.ID); err != nil && !errors.Is(err, operations.ErrEnded) {
		http.Error(w, "stop: "+err.Error(), http.StatusConflict)
		return
	}
	s.o.Logger.Info("web: operation stop requested", "id", op.ID, "kind", op.Kind, "user", sess.user)
	http.Redirect(w, r, fmt.Sprintf("/ops/%d", op.ID), http.StatusSeeOther)
}

func (s *Server) handleVolumes(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	vols, err := s.o.Backend.Volumes(ctx)
	msg := ""
	if err != nil {
		msg = "Some volumes could not be read: " + err.Error()
	}
	s.render(w, http.StatusOK, "volumes", sess, "Volumes", vols, msg)
}

type restoreData struct {
	Accounts []AccountRef
	Account  string
	Mode     string
	At       string
	Into     string
	From, To string
}

func (s *Server) handleRestoreForm(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	q := r.URL.Query()
	d := restoreData{Account: q.Get("account"), Mode: q.Get("mode"), At: q.Get("at"), From: q.Get("from"), To: q.Get("to")}
	if d.Mode != "undelete" {
		d.Mode = "into"
	}
	accts, err := s.o.Backend.Accounts(ctx)
	msg := ""
	if err != nil {
		msg = "The backup catalog cannot be read: " + err.Error()
	}
	d.Accounts = accts
	s.render(w, http.StatusOK, "restore", sess, "Restore", d, msg)
}

// handleRestore submits a restore operation and shows it.
func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request, sess *session) {
	f := r.PostForm
	d := restoreData{Account: strings.TrimSpace(f.Get("account")), Mode: f.Get("mode"), At: f.Get("at"),
		Into: strings.TrimSpace(f.Get("into")), From: f.Get("from"), To: f.Get("to")}
	fail := func(msg string) {
		ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
		defer cancel()
		d.Accounts, _ = s.o.Backend.Accounts(ctx)
		s.render(w, http.StatusBadRequest, "restore", sess, "Restore", d, msg)
	}
	req := RestoreRequest{Account: d.Account, Mode: d.Mode, Into: d.Into}
	var err error
	if req.At, err = parseFormTime(d.At); err != nil {
		fail("Time: " + err.Error())
		return
	}
	if req.From, err = parseFormTime(d.From); err != nil {
		fail("From: " + err.Error())
		return
	}
	if req.To, err = parseFormTime(d.To); err != nil {
		fail("To: " + err.Error())
		return
	}
	switch {
	case req.Account == "":
		fail("Choose an account.")
		return
	case req.Mode != "into" && req.Mode != "undelete":
		fail("Choose into a new account or undelete.")
		return
	case req.Mode == "into" && req.Into == "":
		fail("Name the new account to restore into.")
		return
	case req.Mode == "undelete" && !req.From.IsZero() && !req.To.IsZero() && req.To.Before(req.From):
		fail("The end of the window is before its start.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	op, err := s.o.Backend.SubmitRestore(ctx, req)
	if err != nil {
		fail("The restore was not queued: " + err.Error())
		return
	}
	s.o.Logger.Info("web: restore submitted", "id", op.ID, "kind", op.Kind, "account", req.Account, "user", sess.user)
	http.Redirect(w, r, fmt.Sprintf("/ops/%d", op.ID), http.StatusSeeOther)
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"bytes": formatBytes,
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"input": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02T15:04:05")
	},
	"exact": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"ratio": func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
	"f1":    func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"f2":    func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
	"path":  func(s string) string { return url.QueryEscape(s) },
}

// formatBytes renders a size in binary units.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}
