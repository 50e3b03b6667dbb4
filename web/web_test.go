package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/operations"
)

// fakeBackend is an in-memory Backend for the handlers' own rules (the
// real one is tested through the binary in cmd/tidemark).
type fakeBackend struct {
	mu      sync.Mutex
	checks  []Check
	logins  int
	submits []RestoreRequest
}

func (f *fakeBackend) Health(context.Context) []Check { return f.checks }
func (f *fakeBackend) Backup(context.Context) BackupStatus {
	return BackupStatus{Enabled: true, State: "running"}
}
func (f *fakeBackend) Volumes(context.Context) ([]Volume, error) { return nil, nil }
func (f *fakeBackend) Authenticate(_ context.Context, addr, pw string) error {
	f.mu.Lock()
	f.logins++
	f.mu.Unlock()
	switch {
	case addr == "admin@example.org" && pw == "right":
		return nil
	case addr == "user@example.org" && pw == "right":
		return ErrNotAdmin
	}
	return errors.New("wrong password")
}
func (f *fakeBackend) Accounts(context.Context) ([]AccountRef, error) { return nil, nil }
func (f *fakeBackend) Timeline(_ context.Context, a string, at time.Time) (Timeline, error) {
	return Timeline{Account: a}, nil
}
func (f *fakeBackend) SubmitRestore(_ context.Context, r RestoreRequest) (operations.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submits = append(f.submits, r)
	return operations.Operation{ID: uint64(len(f.submits))}, nil
}

func newTestServer(t *testing.T, b *fakeBackend) (*httptest.Server, *http.Client) {
	t.Helper()
	s, err := New(Options{Source: b, Backend: b, Metrics: NewMetrics(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	// No cookie jar: each request carries exactly the cookies the test
	// gives it.
	return ts, &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var tokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// loginAs fetches the login form and posts it; it returns the answer and
// the session cookie, if any.
func loginAs(t *testing.T, base string, c *http.Client, addr, pw string) (int, *http.Cookie) {
	t.Helper()
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := tokenRE.FindSubmatch(body)
	var lc *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == loginCookie {
			lc = ck
		}
	}
	if m == nil || lc == nil || !lc.Secure || !lc.HttpOnly || lc.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login form without a token or a strict login cookie: %v", lc)
	}
	form := url.Values{"address": {addr}, "password": {pw}, "csrf": {string(m[1])}}
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: loginCookie, Value: lc.Value})
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" {
			return resp.StatusCode, ck
		}
	}
	return resp.StatusCode, nil
}

func TestReadyzStates(t *testing.T) {
	b := &fakeBackend{checks: []Check{{Name: "redo log and projection", Status: CheckOK}, {Name: "backup", Status: CheckDegraded, Detail: "repository unreachable"}}}
	ts, c := newTestServer(t, b)
	resp, _ := c.Get(ts.URL + "/readyz")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "degraded\n") || !strings.Contains(string(body), "backup: degraded: repository unreachable") {
		t.Fatalf("degraded: %d %q", resp.StatusCode, body)
	}
	b.checks = append(b.checks, Check{Name: "listeners", Status: CheckDown, Detail: "not open yet"})
	resp, _ = c.Get(ts.URL + "/readyz")
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.HasPrefix(string(body), "not ready\n") {
		t.Fatalf("down: %d %q", resp.StatusCode, body)
	}
}

// TestLoginRules: a login needs the login form's token, a non-administrator
// and a wrong password are refused, and after LoginMaxFailures failures
// even the right password is refused without being checked.
func TestLoginRules(t *testing.T) {
	b := &fakeBackend{}
	ts, c := newTestServer(t, b)
	// No login cookie and token: refused before any password check.
	resp, err := c.PostForm(ts.URL+"/login", url.Values{"address": {"admin@example.org"}, "password": {"right"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || b.logins != 0 {
		t.Fatalf("login without a token: %d, %d checks", resp.StatusCode, b.logins)
	}
	if code, ck := loginAs(t, ts.URL, c, "user@example.org", "right"); code != 401 || ck != nil {
		t.Fatalf("non-administrator: %d %v", code, ck)
	}
	code, ck := loginAs(t, ts.URL, c, "admin@example.org", "right")
	if code != http.StatusSeeOther || ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("administrator: %d %+v", code, ck)
	}
	for range 4 {
		if code, _ := loginAs(t, ts.URL, c, "admin@example.org", "wrong"); code != 401 {
			t.Fatalf("wrong password: %d", code)
		}
	}
	checks := b.logins
	if code, ck := loginAs(t, ts.URL, c, "admin@example.org", "right"); code != http.StatusTooManyRequests || ck != nil || b.logins != checks {
		t.Fatalf("after 5 failures: %d %v, %d more checks", code, ck, b.logins-checks)
	}
}

// TestPostNeedsSessionAndToken: a POST with no session, a session and no
// or a wrong token, or another site's Origin changes nothing; with both it
// is done.
func TestPostNeedsSessionAndToken(t *testing.T) {
	b := &fakeBackend{}
	ts, c := newTestServer(t, b)
	_, ck := loginAs(t, ts.URL, c, "admin@example.org", "right")
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/restore", nil)
	req.AddCookie(ck)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := tokenRE.FindSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("restore form: %d", resp.StatusCode)
	}
	post := func(cookie *http.Cookie, token, origin string) int {
		f := url.Values{"account": {"a@example.org"}, "mode": {"undelete"}}
		if token != "" {
			f.Set("csrf", token)
		}
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/restore", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name          string
		cookie        *http.Cookie
		token, origin string
		want          int
	}{
		{"no session", nil, string(m[1]), "", 401},
		{"no token", ck, "", "", 403},
		{"wrong token", ck, "x" + string(m[1]), "", 403},
		{"other origin", ck, string(m[1]), "https://evil.example", 403},
	} {
		if got := post(tc.cookie, tc.token, tc.origin); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if len(b.submits) != 0 {
		t.Fatalf("refused posts submitted %v", b.submits)
	}
	if got := post(ck, string(m[1]), ts.URL); got != http.StatusSeeOther || len(b.submits) != 1 || b.submits[0].Mode != "undelete" {
		t.Fatalf("a good post: %d, %v", got, b.submits)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/ops": "/ops", "//evil.example/": "/", "https://evil.example": "/",
		"/\\evil.example": "/", "": "/", "/timeline?account=a%40b": "/timeline?account=a%40b"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTimelineSVGEscapes: names from the catalog reach the SVG escaped.
func TestTimelineSVGEscapes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	svg := string(drawTimeline(Timeline{Account: `x"><script>alert(1)</script>@example.org`, Earliest: t0, Latest: t0.Add(time.Hour),
		Steps:     []Step{{Time: t0.Add(time.Minute), Messages: 1, Bytes: 10}},
		Deletions: []Deletion{{Time: t0.Add(2 * time.Minute), Folder: `<img src=x onerror=alert(1)>`}}}))
	if strings.Contains(svg, "<script") || strings.Contains(svg, "<img") {
		t.Fatalf("unescaped text in the SVG:\n%s", svg)
	}
	if strings.Count(svg, `class="point"`) != 1 || strings.Count(svg, `class="deletion"`) != 1 {
		t.Fatalf("SVG lacks its point or deletion mark:\n%s", svg)
	}
}

func TestIMAPCommandLabels(t *testing.T) {
	for in, want := range map[string]string{"fetch": "FETCH", "UID fetch": "UID FETCH", "XYZZY": "OTHER", "UID XYZZY": "OTHER", "": "OTHER"} {
		if got := imapCommandLabel(in); got != want {
			t.Errorf("imapCommandLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStopFromQueue: the queue's live feed shows a running operation's
// progress, and its stop button (a POST with the session's token) stops
// it in a real operations manager.
func TestStopFromQueue(t *testing.T) {
	m, err := operations.Open(t.TempDir(), &operations.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	started := make(chan struct{})
	m.Register("slow", operations.LaneBackup, func(ctx context.Context, _ json.RawMessage, p *operations.Tracker) (any, error) {
		p.SetTotal(4, 0)
		p.Add(1, 0)
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	op, err := m.Submit(operations.Request{Kind: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	b := &fakeBackend{}
	s, err := New(Options{Source: b, Backend: b, Ops: m, Metrics: NewMetrics(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	_, ck := loginAs(t, ts.URL, c, "admin@example.org", "right")
	get := func(path string) string {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		req.AddCookie(ck)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if live := get("/ops.json"); !strings.Contains(live, `"state":"running","percent":25`) {
		t.Fatalf("/ops.json: %s", live)
	}
	page := get(fmt.Sprintf("/ops/%d", op.ID))
	tok := tokenRE.FindStringSubmatch(page)
	if tok == nil || !strings.Contains(page, `id="stop"`) {
		t.Fatalf("operation page without a stop form:\n%s", page)
	}
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/ops/%d/stop", ts.URL, op.ID), strings.NewReader(url.Values{"csrf": {tok[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(ck)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("stop: %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if end, err := m.Wait(ctx, op.ID); err != nil || end.State != operations.Stopped {
		t.Fatalf("after stop: %+v, %v", end, err)
	}
	if page := get(fmt.Sprintf("/ops/%d", op.ID)); strings.Contains(page, `id="stop"`) || !strings.Contains(page, "stopped") {
		t.Fatalf("the stopped operation's page:\n%s", page)
	}
}
