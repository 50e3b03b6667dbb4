package engine

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Auth cache defaults (Dovecot keeps successful verifications in its auth
// cache for the same reason: a password hash strong enough to resist
// offline attack costs tens of milliseconds of CPU per check, and a login
// storm of clients that reconnect for every fetch would starve the
// server).
const (
	DefaultAuthCacheTTL = 5 * time.Minute
	authCacheMax        = 1 << 16
)

// authCache remembers successful password verifications for a short time.
//
// An entry is keyed by HMAC-SHA256, under a key drawn at open and never
// stored, of the account id and the password: the cache holds no password
// and nothing that helps guess one offline, and a wrong password can never
// hit. An entry counts only while the account's stored hash is still the
// one that was verified, so a password change (or a restore of another
// hash) makes every entry of the account miss at once. Status is checked
// on every login after the cache, and the IMAP lockout before it, so a
// suspended or locked account is refused as before. Failures are never
// cached.
type authCache struct {
	ttl  time.Duration
	now  func() time.Time
	key  [32]byte
	mu   sync.Mutex
	m    map[[32]byte]authEntry
	hits atomic.Uint64 // verifications answered from the cache
	runs atomic.Uint64 // password hash verifications run
}

type authEntry struct {
	hash    string // the stored hash that verified
	expires time.Time
}

func newAuthCache(ttl time.Duration, now func() time.Time) *authCache {
	c := &authCache{ttl: ttl, now: now, m: make(map[[32]byte]authEntry)}
	if _, err := rand.Read(c.key[:]); err != nil {
		c.ttl = -1 // no key, no cache
	}
	return c
}

func (c *authCache) id(acct uint64, password string) [32]byte {
	mac := hmac.New(sha256.New, c.key[:])
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], acct)
	mac.Write(b[:])
	mac.Write([]byte(password))
	var out [32]byte
	mac.Sum(out[:0])
	return out
}

// verify reports whether password matches hash for acct, running check
// only when no live entry says so already.
func (c *authCache) verify(acct uint64, hash, password string, check func() bool) bool {
	if c.ttl < 0 {
		c.runs.Add(1)
		return check()
	}
	k := c.id(acct, password)
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && e.hash == hash && now.Before(e.expires) {
		c.hits.Add(1)
		return true
	}
	c.runs.Add(1)
	if !check() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= authCacheMax {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= authCacheMax {
			clear(c.m) // all live: start over rather than grow
		}
	}
	c.m[k] = authEntry{hash: hash, expires: now.Add(c.ttl)}
	return true
}

// compareHash is the one password comparison Authenticate makes, for real
// accounts and for the dummy alike; a variable so tests can count calls.
var compareHash = bcrypt.CompareHashAndPassword

// dummyHash is a bcrypt hash of a random password at the cost of new hashes
// (Options.BcryptCost), made on first use.
type dummyHash struct {
	once sync.Once
	hash []byte
}

// verifyDummy spends on password what checking a real account costs. It
// always fails: nobody knows the random password.
func (e *Engine) verifyDummy(password string) {
	e.dummy.once.Do(func() {
		var pw [32]byte
		_, _ = rand.Read(pw[:])
		h, err := bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(pw[:])), e.opts.BcryptCost)
		if err != nil {
			// A cost bcrypt refuses is refused for real accounts too;
			// keep the failure as slow as the default.
			h, _ = bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(pw[:])), bcrypt.DefaultCost)
		}
		e.dummy.hash = h
	})
	_ = compareHash(e.dummy.hash, []byte(password))
}
