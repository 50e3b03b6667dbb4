package imap

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLockoutTableBounded: 100,000 failed logins with 1 KiB usernames
// from many IPs leave at most maxEntries pairs and IPs, keyed by at most
// maxKeyLen bytes of the address (it used to keep every username for an
// hour: 8,000 attempts grew the server by 580 MB).
func TestLockoutTableBounded(t *testing.T) {
	clk := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	o := (&Options{Now: clk.Now, LockoutMaxFailures: 10}).fillDefaults()
	l := newLockout(&o)
	long := strings.Repeat("x", 1024)
	for i := 0; i < 100000; i++ {
		user := fmt.Sprintf("%d%s@example.com", i, long)
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		l.fail(user, ip)
		l.delay(ip)
		clk.Add(time.Millisecond)
	}
	pairs, ips := l.size()
	if pairs > maxEntries || ips > maxEntries {
		t.Fatalf("tables hold %d pairs and %d IPs, bound %d", pairs, ips, maxEntries)
	}
	l.mu.Lock()
	for k := range l.entries {
		if len(k.address) > maxKeyLen {
			t.Fatalf("key of %d bytes", len(k.address))
		}
	}
	l.mu.Unlock()
	// A pair locked during the flood stays locked: eviction spares locks.
	for i := 0; i < 10; i++ {
		l.fail("victim@example.com", "192.0.2.1")
	}
	for i := 0; i < 20000; i++ {
		l.fail(fmt.Sprintf("u%d@example.com", i), "192.0.2.2")
	}
	if !l.locked("victim@example.com", "192.0.2.1") {
		t.Fatal("a running lock was evicted by the flood")
	}
}

// TestFailedLoginBackoff: the per-IP delay is free for the first
// failures, then doubles up to its ceiling, and is forgotten after the
// window.
func TestFailedLoginBackoff(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 12; n++ {
		got = append(got, backoff(n))
	}
	want := []time.Duration{0, 0, 0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, maxDelay, maxDelay, maxDelay}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff(%d) = %v, want %v (all: %v)", i+1, got[i], want[i], got)
		}
	}
	clk := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	o := (&Options{Now: clk.Now, LockoutWindow: time.Hour}).fillDefaults()
	l := newLockout(&o)
	for i := 0; i < 5; i++ {
		l.delay("192.0.2.9")
	}
	if d := l.delay("192.0.2.9"); d != 400*time.Millisecond {
		t.Fatalf("sixth failure: %v", d)
	}
	clk.Add(2 * time.Hour)
	if d := l.delay("192.0.2.9"); d != 0 {
		t.Fatalf("after the window: %v", d)
	}
}

// TestLoginTimeout: a connection that does not log in within
// LoginTimeout is ended with BYE, although it keeps sending NOOP.
func TestLoginTimeout(t *testing.T) {
	env := newEnv(t, &Options{AllowInsecureAuth: true, LoginTimeout: 500 * time.Millisecond})
	env.account("alice@example.com", 0)
	r := env.raw()
	for i := 0; i < 100; i++ {
		if _, err := r.c.Write([]byte("N NOOP\r\n")); err != nil {
			return // closed after the BYE
		}
		for {
			l := r.line()
			if strings.HasPrefix(l, "* BYE") {
				if !strings.Contains(l, "Login timeout") {
					t.Fatalf("BYE: %q", l)
				}
				return
			}
			if strings.HasPrefix(l, "N ") {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("still connected long after the login timeout")
}

// TestFolderLimits: CREATE and RENAME beyond MaxFolderDepth levels, and
// CREATE beyond MaxFolders, are NO [LIMIT]; within them they work.
func TestFolderLimits(t *testing.T) {
	env := newEnv(t, &Options{AllowInsecureAuth: true, MaxFolderDepth: 3})
	a := env.account("alice@example.com", 0)
	existing, err := env.eng.ListFolders(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	env.srv.opts.MaxFolders = len(existing) + 4 // room for a, a/b, a/b/c and e
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	lastOK(t, "CREATE a/b/c", r.cmd("CREATE a/b/c"))
	if l := r.cmd("CREATE a/b/c/d"); !has(l, "NO [LIMIT]") {
		t.Fatalf("CREATE 4 levels: %q", l)
	}
	if l := r.cmd("RENAME a/b/c x/y/z/w"); !has(l, "NO [LIMIT]") {
		t.Fatalf("RENAME to 4 levels: %q", l)
	}
	lastOK(t, "CREATE e", r.cmd("CREATE e"))
	if l := r.cmd("CREATE f/g"); !has(l, "NO [LIMIT]") {
		t.Fatalf("CREATE beyond the count: %q", l)
	}
}

// TestNoHardLockoutByDefault: with the default options, 50 failed logins
// for one address from one IP (a neighbour behind the same NAT, say) do
// not lock the address: the right password still gets through, and the
// failures were slowed instead, up to the 5 s cap.
func TestNoHardLockoutByDefault(t *testing.T) {
	clk := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	o := (&Options{Now: clk.Now}).fillDefaults()
	l := newLockout(&o)
	var last time.Duration
	for i := 0; i < 50; i++ {
		if l.fail("bob@example.com", "192.0.2.7") {
			t.Fatalf("failure %d locked the address with the lockout off", i+1)
		}
		last = l.delayFor("bob@example.com", "192.0.2.7")
	}
	if l.locked("bob@example.com", "192.0.2.7") {
		t.Fatal("address locked with the lockout off")
	}
	if last != maxDelay {
		t.Fatalf("50th failure delayed %v, want %v", last, maxDelay)
	}
	// The same failures spread over 50 IPs slow the address too.
	for i := 0; i < 50; i++ {
		last = l.delayFor("carol@example.com", fmt.Sprintf("198.51.100.%d", i))
	}
	if last != maxDelay {
		t.Fatalf("50th failure from 50 IPs delayed %v, want %v", last, maxDelay)
	}
}
