package imap

import (
	"crypto/sha256"
	"strings"
	"sync"
	"time"
)

// lockout is the failed-login policy. Failures are slowed, not refused:
// per client IP and per address, each failure past a few free ones is
// answered after a delay that doubles (see delayFor). Opt-in on top of
// that (maxFailures > 0), Zimbra's zimbraPasswordLockout*: after
// maxFailures failures for one address from one client IP within window,
// that pair is locked for duration and every login attempt for it fails,
// right password or not, without reaching the engine. Keying on the pair means an attacker cannot lock a user out from
// another address. The table lives in memory: a restart clears it.
//
// The table is bounded: addresses are keyed by their first maxKeyLen
// bytes, and at maxEntries pairs the expired ones are swept and, if that
// is not enough, arbitrary unlocked ones dropped down to 90% (a sweep
// costs the table's size once per tenth of it, not once per failure). A
// client IP that keeps failing is slowed: after freeFailures failures
// within the window each further one is answered after a delay that
// doubles, up to maxDelay (see delay), whatever addresses it tries.
type lockout struct {
	maxFailures int
	window      time.Duration
	duration    time.Duration
	now         func() time.Time

	mu      sync.Mutex
	entries map[lockKey]*lockEntry
	ips     map[string]*ipEntry
	accts   map[string]*ipEntry // by addrKey: failures for one address from anywhere
}

// Bounds of the failed-login tables and of the per-IP delay.
const (
	maxKeyLen    = 256
	maxEntries   = 10000
	freeFailures = 3
	// freeAccountFailures: failures for one address, from anywhere,
	// before its delay starts (a user mistyping from two devices).
	freeAccountFailures = 5
	baseDelay           = 100 * time.Millisecond
	maxDelay            = 5 * time.Second
)

type ipEntry struct {
	failures int
	last     time.Time
}

type lockKey struct{ address, ip string }

type lockEntry struct {
	failures    []time.Time // within window, oldest first
	lockedUntil time.Time
}

func newLockout(o *Options) *lockout {
	return &lockout{
		maxFailures: o.LockoutMaxFailures,
		window:      o.LockoutWindow,
		duration:    o.LockoutDuration,
		now:         o.Now,
		entries:     make(map[lockKey]*lockEntry),
		ips:         make(map[string]*ipEntry),
		accts:       make(map[string]*ipEntry),
	}
}

func (l *lockout) key(address, ip string) lockKey {
	if len(ip) > maxKeyLen {
		ip = ip[:maxKeyLen]
	}
	return lockKey{addrKey(address), ip}
}

// addrKey is the table key of an address: 16 bytes of the SHA-256 of its
// trimmed, lower-cased form, so a 1 KiB username costs 16 bytes and two
// long names that share a prefix are not one entry.
func addrKey(address string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(address))))
	return string(sum[:16])
}

// locked reports whether the pair is locked now.
func (l *lockout) locked(address, ip string) bool {
	if l.maxFailures <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[l.key(address, ip)]
	return e != nil && l.now().Before(e.lockedUntil)
}

// fail records a failed login and reports whether it locked the pair.
func (l *lockout) fail(address, ip string) bool {
	if l.maxFailures <= 0 {
		return false
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	k := l.key(address, ip)
	e := l.entries[k]
	if e == nil {
		e = &lockEntry{}
		l.entries[k] = e
	}
	e.failures = append(pruneBefore(e.failures, now.Add(-l.window)), now)
	if len(e.failures) >= l.maxFailures {
		e.lockedUntil = now.Add(l.duration)
		e.failures = nil
		return true
	}
	return false
}

// succeed forgets the pair's failures after a successful login.
func (l *lockout) succeed(address, ip string) {
	l.mu.Lock()
	delete(l.entries, l.key(address, ip))
	l.mu.Unlock()
}

// size returns the number of entries in the tables (for tests).
func (l *lockout) size() (pairs, ips int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries), max(len(l.ips), len(l.accts))
}

// sweepLocked bounds the tables: at maxEntries, entries with no recent
// failure and no running lock go, then arbitrary unlocked ones down to
// 90% of the bound, so a scan of random addresses cannot grow them.
func (l *lockout) sweepLocked(now time.Time) {
	if len(l.entries) >= maxEntries {
		for k, e := range l.entries {
			e.failures = pruneBefore(e.failures, now.Add(-l.window))
			if len(e.failures) == 0 && !now.Before(e.lockedUntil) {
				delete(l.entries, k)
			}
		}
		for k, e := range l.entries {
			if len(l.entries) < maxEntries*9/10 {
				break
			}
			if !now.Before(e.lockedUntil) {
				delete(l.entries, k)
			}
		}
	}
	for _, m := range []map[string]*ipEntry{l.ips, l.accts} {
		if len(m) >= maxEntries {
			for k, e := range m {
				if now.Sub(e.last) > l.window || len(m) >= maxEntries*9/10 {
					delete(m, k)
				}
			}
		}
	}
}

// delay records a failed login from ip and returns how long to wait
// before answering it: nothing for the first freeFailures failures within
// the window, then baseDelay doubling with each, up to maxDelay.
func (l *lockout) delay(ip string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	if len(ip) > maxKeyLen {
		ip = ip[:maxKeyLen]
	}
	return l.countLocked(l.ips, ip, now, freeFailures)
}

// delayFor records a failed login for address from ip and returns the
// longer of the IP's delay and the address's: failures for one address
// from any number of IPs slow further attempts on it (after
// freeAccountFailures), where a lockout would let anyone lock the user
// out.
func (l *lockout) delayFor(address, ip string) time.Duration {
	d := l.delay(ip)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(d, l.countLocked(l.accts, addrKey(address), now, freeAccountFailures))
}

func (l *lockout) countLocked(m map[string]*ipEntry, k string, now time.Time, free int) time.Duration {
	e := m[k]
	if e == nil || now.Sub(e.last) > l.window {
		e = &ipEntry{}
		m[k] = e
	}
	e.failures++
	e.last = now
	return backoffAfter(e.failures, free)
}

// backoff is the delay after n failures from one IP.
func backoff(n int) time.Duration { return backoffAfter(n, freeFailures) }

// backoffAfter is the delay after n failures when the first free cost
// nothing.
func backoffAfter(n, free int) time.Duration {
	if n <= free {
		return 0
	}
	d := baseDelay
	for i := free + 1; i < n && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

func pruneBefore(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(cutoff) {
		i++
	}
	return ts[i:]
}
