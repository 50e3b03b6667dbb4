package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// httpGet fetches url and returns the status and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape reads /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics answered %d:\n%s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

// metric returns the value of the series of name whose labels include
// labels: a counter's or gauge's value, a histogram's count; ok is false
// when there is no such series.
func metric(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func mustMetric(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := metric(fams, name, labels...)
	if !ok {
		t.Fatalf("/metrics has no %s %v", name, labels)
	}
	return v
}

// TestMetricsAfterTraffic scrapes /metrics of the real server before and
// after LMTP deliveries and a refusal, IMAP logins and commands, the
// backup shipping them, and an operation, and checks that each figure
// moved by what the traffic did.
func TestMetricsAfterTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	// The hard lockout is opt-in; turn it on to see it counted.
	cfgPath := filepath.Join(dir, configFile)
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.Replace(cfg, []byte("lockout_max_failures = 0"), []byte("lockout_max_failures = 10"), 1)
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	web := freePort(t)
	s := startServer(t, bin, dir, "--http", web)
	defer s.stop(t)
	waitShipped(t, bin, dir, 0)

	before := scrape(t, web)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "tidemark_redo_fsync_seconds",
		"tidemark_redo_append_seconds", "tidemark_backup_lag_seconds"} {
		if _, ok := metric(before, name); !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	var acked sync.Map
	deliverN(t, s.lmtp, "metrics", 4, &acked)
	tm(t, bin, "account", "create", "bob@example.org", "--password", "pw", "--data", dir)
	// An unknown recipient: 550 5.1.1 at RCPT.
	if out := rcptReply(t, s.lmtp, "nobody@example.org"); !strings.Contains(out, "550") {
		t.Fatalf("unknown recipient not refused: %s", out)
	}
	if got := mailboxOf(t, s.imap, "alice@example.org", "pw"); len(got) != 4 {
		t.Fatalf("mailbox holds %d", len(got))
	}
	// Ten failed logins lock bob out from this address (imap.lockout_max_failures);
	// the eleventh attempt is refused as locked.
	c, err := imapclient.DialInsecure(s.imap, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 11 {
		if err := c.Login("bob@example.org", "wrong").Wait(); err == nil {
			t.Fatal("a wrong password logged in")
		}
	}
	c.Close()
	st := waitShipped(t, bin, dir, 4)
	if op, code := opSync(t, bin, dir, "backup.scan", scanParams{}); code != 0 {
		t.Fatalf("backup scan exited %d: %+v", code, op)
	}

	after := scrape(t, web)
	delta := func(name string, labels ...string) float64 {
		a, _ := metric(after, name, labels...)
		b, _ := metric(before, name, labels...)
		return a - b
	}
	if d := delta("tidemark_lmtp_deliveries_total"); d != 4 {
		t.Errorf("deliveries moved by %v, want 4", d)
	}
	if d := delta("tidemark_lmtp_rejections_total", "stage", "rcpt", "code", "550 5.1.1"); d != 1 {
		t.Errorf("550 5.1.1 rejections moved by %v, want 1", d)
	}
	// Four deliveries and an account creation, at least one record each.
	// IMAP: two sessions, one good login with SELECT and FETCH, ten
	// failures and a lockout; both sessions closed.
	if d := delta("tidemark_imap_sessions_total"); d != 2 {
		t.Errorf("IMAP sessions moved by %v, want 2", d)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if v := mustMetric(t, after, "tidemark_imap_sessions_open"); v == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Errorf("%v IMAP sessions open after both closed", v)
			break
		}
		after = scrape(t, web)
	}
	for _, c := range []struct {
		result string
		want   float64
	}{{"ok", 1}, {"failed", 10}, {"locked", 1}} {
		if d := delta("tidemark_imap_logins_total", "result", c.result); d != c.want {
			t.Errorf("IMAP logins %s moved by %v, want %v", c.result, d, c.want)
		}
	}
	if d := delta("tidemark_imap_lockouts_total"); d != 1 {
		t.Errorf("IMAP lockouts moved by %v, want 1", d)
	}
	if d := delta("tidemark_imap_commands_total", "command", "SELECT", "status", "OK"); d != 1 {
		t.Errorf("SELECT OK moved by %v, want 1", d)
	}
	if d := delta("tidemark_imap_commands_total", "command", "LOGIN", "status", "NO"); d != 11 {
		t.Errorf("LOGIN NO moved by %v, want 11", d)
	}
	if d := delta("tidemark_imap_command_seconds", "command", "FETCH"); d < 1 {
		t.Errorf("FETCH latency observed %v times", d)
	}
	if d := delta("tidemark_redo_appended_records_total"); d < 5 {
		t.Errorf("redo records moved by %v, want at least 5", d)
	}
	if d := delta("tidemark_redo_append_seconds"); d < 5 {
		t.Errorf("redo append latency observed %v times, want at least 5", d)
	}
	if d := delta("tidemark_redo_fsync_seconds"); d < 1 {
		t.Errorf("redo fsync latency observed %v times", d)
	}
	if d := delta("tidemark_redo_written_bytes_total"); d < 4*100 {
		t.Errorf("redo bytes moved by %v", d)
	}
	if v := mustMetric(t, after, "tidemark_backup_shipped_lsn"); v < float64(st.ShippedLSN) {
		t.Errorf("shipped lsn %v, status says %d", v, st.ShippedLSN)
	}
	if v := mustMetric(t, after, "tidemark_backup_up"); v != 1 {
		t.Errorf("backup_up %v", v)
	}
	if v := mustMetric(t, after, "tidemark_backup_lag_records"); v != 0 {
		t.Errorf("lag %v records after the backup caught up", v)
	}
	if v := mustMetric(t, after, "tidemark_backup_last_shipped_timestamp_seconds"); time.Since(time.Unix(int64(v), 0)) > time.Hour {
		t.Errorf("last shipped at %v", time.Unix(int64(v), 0))
	}
	if v := mustMetric(t, after, "tidemark_backup_repository_bytes"); v <= 0 {
		t.Errorf("repository bytes %v", v)
	}
	if v := mustMetric(t, after, "tidemark_backup_compression_ratio"); v <= 0 {
		t.Errorf("compression ratio %v", v)
	}
	if v := mustMetric(t, after, "tidemark_backup_dedup_ratio"); v < 1 {
		t.Errorf("dedup ratio %v", v)
	}
	// The volume figures are reused for a few seconds after a change:
	// the first scrape saw no blob, a later one the four delivered.
	if v := mustMetric(t, before, "tidemark_volume_blobs", "volume", "primary"); v != 0 {
		t.Errorf("primary volume held %v blobs before any delivery", v)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Second) {
		fresh := scrape(t, web)
		if v := mustMetric(t, fresh, "tidemark_volume_blobs", "volume", "primary"); v == 4 {
			if v := mustMetric(t, fresh, "tidemark_volume_bytes", "volume", "primary", "tier", "primary", "type", "local"); v <= 0 {
				t.Errorf("primary volume stores %v bytes", v)
			}
			if v := mustMetric(t, fresh, "tidemark_volume_up", "volume", "primary"); v != 1 {
				t.Errorf("primary volume up %v", v)
			}
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("primary volume holds %v blobs after 4 deliveries", v)
		}
	}
	if d := delta("tidemark_operation_duration_seconds", "kind", "backup.scan", "state", "done"); d != 1 {
		t.Errorf("ended backup.scan operations moved by %v, want 1", d)
	}
	if v := mustMetric(t, after, "tidemark_operations_queued", "lane", "backup"); v != 0 {
		t.Errorf("queued %v", v)
	}
}

// rcptReply offers rcpt over LMTP at addr and returns the server's
// reply to RCPT ("accepted" for a 250).
func rcptReply(t *testing.T, addr, rcpt string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("metrics"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("s@example.net", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err.Error()
	}
	return "accepted"
}

// TestHealthDuringRepositoryOutage: with the backup repository unreachable
// /healthz answers, /readyz is 200 with a body that says the server is
// degraded and why, /metrics shows the backup down and its lag growing;
// once the repository is back /readyz says ready.
func TestHealthDuringRepositoryOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	dir := filepath.Join(top, "data")
	blocker := filepath.Join(top, "mnt")
	if err := os.WriteFile(blocker, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	tm(t, bin, "init", "--data", dir)
	setRepository(t, dir, filepath.Join(blocker, "repo"))
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	web := freePort(t)
	s := startServer(t, bin, dir, "--http", web)
	defer s.stop(t)
	var acked sync.Map
	deliverN(t, s.lmtp, "outage", 3, &acked)

	if code, body := httpGet(t, "http://"+web+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz during the outage: %d %q", code, body)
	}
	var body string
	var code int
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		code, body = httpGet(t, "http://"+web+"/readyz")
		if strings.Contains(body, "unreachable") || time.Now().After(deadline) {
			break
		}
	}
	if code != 200 || !strings.HasPrefix(body, "degraded\n") || !strings.Contains(body, "backup: degraded") ||
		!strings.Contains(body, "unreachable") || !strings.Contains(body, "mail is still accepted") ||
		!strings.Contains(body, "listeners: ok") || !strings.Contains(body, "redo log and projection: ok") {
		t.Fatalf("/readyz during the outage: %d\n%s", code, body)
	}
	var rd struct {
		Status string `json:"status"`
		Checks []struct{ Name, Status, Detail string }
	}
	_, js := httpGet(t, "http://"+web+"/readyz?format=json")
	if err := json.Unmarshal([]byte(js), &rd); err != nil || rd.Status != "degraded" || len(rd.Checks) != 3 {
		t.Fatalf("/readyz?format=json: %v %s", err, js)
	}
	fams := scrape(t, web)
	if v := mustMetric(t, fams, "tidemark_backup_up"); v != 0 {
		t.Errorf("backup_up %v during the outage", v)
	}
	// Two provisioning records and three deliveries wait.
	if v := mustMetric(t, fams, "tidemark_backup_lag_records"); v < 5 {
		t.Errorf("lag %v records during the outage, want at least 5", v)
	}
	if v := mustMetric(t, fams, "tidemark_lmtp_deliveries_total"); v != 3 {
		t.Errorf("deliveries %v during the outage", v)
	}

	// The repository comes back.
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(blocker, 0o700); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		code, body = httpGet(t, "http://"+web+"/readyz")
		if code == 200 && strings.HasPrefix(body, "ready\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after the repository came back: %d\n%s\n%s", code, body, s.log)
		}
	}
	if v := mustMetric(t, scrape(t, web), "tidemark_backup_up"); v != 1 {
		t.Errorf("backup_up %v after the outage", v)
	}
}
