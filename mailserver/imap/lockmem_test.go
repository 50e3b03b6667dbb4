package imap

import (
	"bytes"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestFailedLoginMemoryBounded: 100,000 failed logins with 1 KiB
// usernames from 100,000 IPs (the pair lockout, the IP and address delay
// tables and the login log line of each) leave the heap within a few MB
// of where it started: the tables are capped and keyed by 16-byte hashes.
// It used to keep every username for an hour (8,000 attempts: +580 MB).
func TestFailedLoginMemoryBounded(t *testing.T) {
	clk := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	var logBuf bytes.Buffer
	srv := NewServer(nil, &Options{Now: clk.Now, LockoutMaxFailures: 10, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	sess := &session{srv: srv, ip: "192.0.2.1"}
	long := strings.Repeat("x", 1024)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 100000; i++ {
		user := fmt.Sprintf("%d%s@example.com", i, long)
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		srv.lock.fail(user, ip)
		srv.lock.delayFor(user, ip)
		sess.ip = ip
		sess.loginDone(user, "failed", "Authentication failed")
		if i%100 == 0 {
			clk.Add(time.Second / 10)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	pairs, keys := srv.lock.size()
	if pairs == 0 || keys == 0 || pairs > maxEntries || keys > maxEntries {
		t.Fatalf("tables hold %d pairs and %d IPs/addresses, want 1..%d", pairs, keys, maxEntries)
	}
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap %d -> %d bytes (%+.1f MB) after 100,000 failed logins with 1 KiB usernames (%d pairs, %d keys kept); %d bytes of log",
		before.HeapAlloc, after.HeapAlloc, float64(grew)/(1<<20), pairs, keys, logBuf.Len())
	if grew > 32<<20 {
		t.Fatalf("heap grew by %d MB", grew>>20)
	}
	// 100,000 attempts over 100 s of clock: at most 20 lines a second.
	lines := strings.Count(logBuf.String(), "\n")
	if lines > 101*loginLogBurst {
		t.Fatalf("%d log lines for 100,000 failures", lines)
	}
	if !strings.Contains(logBuf.String(), "failures_not_logged=") {
		t.Fatal("log lines do not say how many failures were left out")
	}
	for _, l := range strings.Split(logBuf.String(), "\n") {
		if len(l) > 400 {
			t.Fatalf("log line of %d bytes: %.120q", len(l), l)
		}
	}
}

// TestAccountDelayFromManyIPs: failures for one address from many IPs
// slow further attempts on that address, but lock no pair: the user's
// own IP, which never failed, still reaches the password check, and
// another address is not slowed.
func TestAccountDelayFromManyIPs(t *testing.T) {
	clk := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	o := (&Options{Now: clk.Now}).fillDefaults()
	l := newLockout(&o)
	var last time.Duration
	for i := 0; i < 10; i++ {
		ip := fmt.Sprintf("198.51.100.%d", i)
		l.fail("Victim@example.com", ip)
		last = l.delayFor("victim@example.com ", ip)
	}
	if last != 1600*time.Millisecond {
		// 10 failures, 5 free: 0.1 s doubling four times = 1.6 s.
		t.Fatalf("delay after 10 failures from 10 IPs: %v", last)
	}
	if l.locked("victim@example.com", "203.0.113.7") {
		t.Fatal("the user's own IP is locked out by failures elsewhere")
	}
	if d := l.delayFor("other@example.com", "203.0.113.8"); d != 0 {
		t.Fatalf("another address delayed %v", d)
	}
	clk.Add(o.LockoutWindow + time.Second)
	if d := l.delayFor("victim@example.com", "203.0.113.9"); d != 0 {
		t.Fatalf("delay after the window: %v", d)
	}
}
