package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark/tidemark/operations"
)

// chromiumPath finds Debian's chromium (installed by .ci/test). Without it
// the test skips, and fails under TIDEMARK_REQUIRE_CLIENTS=1 (CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("TIDEMARK_REQUIRE_CLIENTS") == "1" {
		t.Fatal("chromium required (TIDEMARK_REQUIRE_CLIENTS=1) but not installed: apt-get install chromium")
	}
	t.Skip("chromium not installed (apt-get install chromium); the dashboard's browser test needs it; set TIDEMARK_REQUIRE_CLIENTS=1 to make this a failure")
	return ""
}

// expungeFirst deletes the first n messages of the account's INBOX.
func expungeFirst(t *testing.T, addr, user, password string, n uint32) {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var set imap.SeqSet
	set.AddRange(1, n)
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
}

// restoredFolders returns the Restored folders of an account with their
// message counts.
func restoredFolders(t *testing.T, addr, user, password string) map[string]uint32 {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatal(err)
	}
	boxes, err := c.List("", "Restored *", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint32{}
	for _, b := range boxes {
		st, err := c.Status(b.Mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		out[b.Mailbox] = *st.NumMessages
	}
	return out
}

// TestDashboardInBrowser drives the dashboard with a real headless
// Chromium: a mail account and a non-administrator are refused, the
// administrator logs in, sees the timeline of an account with delivered
// and deleted mail, starts an undelete from that page and watches the
// operation finish; requests without a session or with a wrong CSRF token
// are refused and change nothing.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary and a browser; skipped with -short")
	}
	chromium := chromiumPath(t)
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "alice-pw", "--data", dir)
	tm(t, bin, "account", "create", "root@example.org", "--password", "root-pw", "--data", dir)
	tm(t, bin, "account", "modify", "root@example.org", "--admin", "--data", dir)
	web := freePort(t)
	s := startServer(t, bin, dir, "--http", web)
	defer s.stop(t)
	base := "http://" + web

	var acked sync.Map
	deliverN(t, s.lmtp, "dash", 3, &acked)
	expungeFirst(t, s.imap, "alice@example.org", "alice-pw", 2)
	waitShipped(t, bin, dir, 3)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1200, 1000))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()
	shot := func(name string) {
		d := os.Getenv("TIDEMARK_DASHBOARD_SCREENSHOTS")
		if d == "" {
			return
		}
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(filepath.Join(d, name+".png"), png, 0o600)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
		if err != nil {
			t.Fatalf("count %s: %v", sel, err)
		}
		return n
	}
	location := func() string {
		t.Helper()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	login := func(user, pw string) string {
		t.Helper()
		err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(chromedp.CSS("#login")),
			chromedp.SetValue(chromedp.CSS("#address"), user),
			chromedp.SetValue(chromedp.CSS("#password"), pw),
			chromedp.Click(chromedp.CSS("#submit")),
			chromedp.WaitVisible(chromedp.CSS("#error, #readiness")),
		)
		if err != nil {
			t.Fatalf("login as %s: %v\n%s", user, err, s.log)
		}
		if strings.Contains(location(), "/login") {
			return text("#error")
		}
		return ""
	}

	// A mail user who is no administrator, and a wrong password.
	if e := login("alice@example.org", "alice-pw"); !strings.Contains(e, "not an administrator") {
		t.Fatalf("a non-administrator got in (error %q)", e)
	}
	if e := login("root@example.org", "wrong"); !strings.Contains(e, "Wrong address or password") {
		t.Fatalf("a wrong password got in (error %q)", e)
	}
	if e := login("root@example.org", "root-pw"); e != "" {
		t.Fatalf("the administrator was refused: %s", e)
	}
	readiness, deliveries := text("#readiness"), text("#deliveries")
	if readiness != "ready" || !strings.Contains(deliveries, "3 since start") {
		t.Fatalf("overview shows readiness %q, deliveries %q", readiness, deliveries)
	}
	shot("overview")

	// The timeline: three deliveries and one expunge of two messages.
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/timeline?account="+url.QueryEscape("alice@example.org")),
		chromedp.WaitVisible(chromedp.CSS("svg.timeline")),
	)
	if err != nil {
		t.Fatalf("timeline: %v", err)
	}
	points, deletionMarks, deletionRows := count("svg.timeline circle.point"), count("svg.timeline line.deletion"), count("#deletions tbody tr")
	label, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("svg.timeline"), "aria-label"))
	if err != nil {
		t.Fatal(err)
	}
	svgLabel := label.Value
	if points != 4 || deletionMarks != 2 || deletionRows != 2 || !strings.Contains(svgLabel, "alice@example.org") {
		t.Fatalf("timeline shows %d restore points (want 4), %d deletion marks and %d rows (want 2), label %q",
			points, deletionMarks, deletionRows, svgLabel)
	}
	// A restore point: what restore account --at brings back then.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("svg.timeline a:nth-of-type(3) circle")),
		chromedp.WaitVisible(chromedp.CSS("#at-state")),
	)
	if err != nil {
		t.Fatalf("clicking a restore point: %v", err)
	}
	if atState := text("#at-state"); !strings.Contains(atState, "3 messages") {
		t.Fatalf("the third restore point shows %q, want 3 messages", atState)
	}
	shot("timeline")

	// The session cookie is Secure, HttpOnly and SameSite=Strict.
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	var session *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == "tidemark_session" {
			session = c
		}
	}
	if session == nil || !session.Secure || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict {
		t.Fatalf("session cookie %+v", session)
	}

	// Requests without a session, or with the session but a wrong or no
	// CSRF token, are refused and queue nothing.
	opsBefore := len(opList(t, bin, dir))
	form := url.Values{"account": {"alice@example.org"}, "mode": {"undelete"}}
	post := func(cookie, csrf string) int {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if csrf != "" {
			f.Set("csrf", csrf)
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/restore", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "tidemark_session", Value: cookie})
		}
		c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("", "x"); code != http.StatusUnauthorized {
		t.Errorf("POST /restore without a session: %d, want 401", code)
	}
	if code := post("forged-session", "x"); code != http.StatusUnauthorized {
		t.Errorf("POST /restore with a forged session: %d, want 401", code)
	}
	if code := post(session.Value, ""); code != http.StatusForbidden {
		t.Errorf("POST /restore without a CSRF token: %d, want 403", code)
	}
	if code := post(session.Value, "wrong-token"); code != http.StatusForbidden {
		t.Errorf("POST /restore with a wrong CSRF token: %d, want 403", code)
	}
	if code, _ := httpGet(t, base+"/ops.json"); code != http.StatusUnauthorized {
		t.Errorf("GET /ops.json without a session: %d, want 401", code)
	}
	if n := len(opList(t, bin, dir)); n != opsBefore {
		t.Fatalf("refused requests queued %d operations", n-opsBefore)
	}

	// Undelete from the timeline page and watch it finish.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/timeline?account="+url.QueryEscape("alice@example.org")),
		chromedp.WaitVisible(chromedp.CSS("#undelete-submit")),
		chromedp.Click(chromedp.CSS("#undelete-submit")),
		chromedp.WaitVisible(chromedp.CSS("#op-state")),
	)
	if err != nil {
		t.Fatalf("undelete from the timeline: %v", err)
	}
	var loc, state string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		// The page follows the operation by itself (and reloads once when
		// it ends): only read it. A read that meets the reload (the old
		// document's context is gone) is tried again.
		l, lerr := chromedp.Run(ctx, chromedp.Location())
		st, serr := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#op-state")))
		if lerr == nil && serr == nil {
			loc, state = l, st
		}
		if state == "done" || state == "failed" || time.Now().After(deadline) {
			break
		}
	}
	if state != "done" {
		t.Fatalf("the undelete at %s ended %q\n%s", loc, state, s.log)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#report"))); err != nil {
		t.Fatalf("the finished operation's page shows no report: %v", err)
	}
	if report := text("#report"); !strings.Contains(report, "restored") {
		t.Errorf("report: %s", report)
	}
	shot("operation")
	id, err := strconv.ParseUint(loc[strings.LastIndexByte(loc, '/')+1:], 10, 64)
	if err != nil {
		t.Fatalf("operation page %s", loc)
	}
	op := showOp(t, bin, dir, fmt.Sprint(id))
	if op.Kind != kindRestoreUndelete || op.State != operations.Done {
		t.Fatalf("operation %d: %+v", id, op)
	}
	got := restoredFolders(t, s.imap, "alice@example.org", "alice-pw")
	// Restored <date>/INBOX holds the two messages deleted from INBOX.
	total, inbox := uint32(0), uint32(0)
	for name, n := range got {
		total += n
		if strings.HasSuffix(name, "/INBOX") {
			inbox = n
		}
	}
	if total != 2 || inbox != 2 {
		t.Fatalf("Restored folders after the undelete: %v, want the 2 deleted messages in Restored .../INBOX", got)
	}

	// The volumes: the registered primary and the backup repository.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/volumes"), chromedp.WaitVisible(chromedp.CSS("#volumes"))); err != nil {
		t.Fatal(err)
	}
	if vols := text("#volumes"); !strings.Contains(vols, "primary") || !strings.Contains(vols, "backup repository") ||
		!strings.Contains(vols, "blobs") && !strings.Contains(vols, "raw") {
		t.Fatalf("volumes page:\n%s", vols)
	}
	shot("volumes")

	// The queue page lists it; logging out ends the session.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ops"), chromedp.WaitVisible(chromedp.CSS("#ops"))); err != nil {
		t.Fatal(err)
	}
	if rows := count("#ops tr[data-op]"); rows < 1 {
		t.Fatalf("queue page: %d rows", rows)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(".logout button")), chromedp.WaitVisible(chromedp.CSS("#login"))); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if code := post(session.Value, "wrong-token"); code != http.StatusUnauthorized {
		t.Errorf("POST after logout: %d, want 401", code)
	}
}

// opList lists the server's operations.
func opList(t *testing.T, bin, dir string) []operations.Operation {
	t.Helper()
	var list struct {
		Operations []operations.Operation `json:"operations"`
	}
	out := tm(t, bin, "op", "list", "--json", "--data", dir)
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("op list: %v\n%s", err, out)
	}
	return list.Operations
}
