package imap

import (
	"strings"
	"sync"
	"time"
)

// lockout is the failed-login policy, modelled on Zimbra's
// zimbraPasswordLockout*: after maxFailures failures for one address from
// one client IP within window, that pair is locked for duration and every
// login attempt for it fails, right password or not, without reaching the
// engine. Keying on the pair means an attacker cannot lock a user out from
// another address. The table lives in memory: a restart clears it.
type lockout struct {
	maxFailures int
	window      time.Duration
	duration    time.Duration
	now         func() time.Time

	mu      sync.Mutex
	entries map[lockKey]*lockEntry
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
	}
}

func (l *lockout) key(address, ip string) lockKey {
	return lockKey{strings.ToLower(strings.TrimSpace(address)), ip}
}

// locked reports whether the pair is locked now.
func (l *lockout) locked(address, ip string) bool {
	if l.maxFailures < 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[l.key(address, ip)]
	return e != nil && l.now().Before(e.lockedUntil)
}

// fail records a failed login and reports whether it locked the pair.
func (l *lockout) fail(address, ip string) bool {
	if l.maxFailures < 0 {
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

// sweepLocked drops entries with no recent failure and no running lock, so
// a scan of random addresses cannot grow the table without bound.
func (l *lockout) sweepLocked(now time.Time) {
	if len(l.entries) < 1024 {
		return
	}
	for k, e := range l.entries {
		e.failures = pruneBefore(e.failures, now.Add(-l.window))
		if len(e.failures) == 0 && !now.Before(e.lockedUntil) {
			delete(l.entries, k)
		}
	}
}

func pruneBefore(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(cutoff) {
		i++
	}
	return ts[i:]
}
