package engine

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tidemark/tidemark/engine/event"
)

// TestAuthCache: a repeated login with the right password is answered
// without hashing again; a wrong password, a changed password, an expired
// entry and a suspended account are never answered from the cache.
func TestAuthCache(t *testing.T) {
	e, a := newEngine(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.auth.now = func() time.Time { return now }
	login := func(pw string) error {
		_, err := e.Authenticate(ctx, "alice@example.org", pw)
		return err
	}
	runs := func() uint64 { return e.auth.runs.Load() }

	if err := login("secret"); err != nil {
		t.Fatal(err)
	}
	if err := login("secret"); err != nil || runs() != 1 || e.auth.hits.Load() != 1 {
		t.Fatalf("second login: %v, %d hash runs, %d hits; want 1 run and 1 hit", err, runs(), e.auth.hits.Load())
	}
	if err := login("wrong"); !errors.Is(err, ErrAuthFailed) || runs() != 2 {
		t.Fatalf("wrong password: %v after %d runs", err, runs())
	}
	if err := login("wrong"); !errors.Is(err, ErrAuthFailed) || runs() != 3 {
		t.Fatalf("a failure was cached: %v after %d runs", err, runs())
	}

	// A password change makes the old password fail at once.
	if err := e.SetPassword(ctx, a.ID, "changed"); err != nil {
		t.Fatal(err)
	}
	if err := login("secret"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("old password after a change: %v", err)
	}
	if err := login("changed"); err != nil {
		t.Fatal(err)
	}

	// A suspended account is refused even with a cached password.
	suspended := event.StatusLocked
	if _, err := e.ModifyAccount(ctx, a.ID, AccountChange{Status: &suspended}); err != nil {
		t.Fatal(err)
	}
	var se *StatusError
	if err := login("changed"); !errors.As(err, &se) {
		t.Fatalf("locked account: %v", err)
	}
	active := event.StatusActive
	if _, err := e.ModifyAccount(ctx, a.ID, AccountChange{Status: &active}); err != nil {
		t.Fatal(err)
	}

	// After the TTL the password is hashed again.
	before := runs()
	now = now.Add(DefaultAuthCacheTTL + time.Second)
	if err := login("changed"); err != nil || runs() != before+1 {
		t.Fatalf("after the TTL: %v, %d runs, want %d", err, runs(), before+1)
	}
}

// BenchmarkAuthenticate measures a login with the cache (the steady case
// of clients that log in for every round) against one without.
func BenchmarkAuthenticate(b *testing.B) {
	for _, ttl := range []time.Duration{DefaultAuthCacheTTL, -1} {
		name := "cached"
		if ttl < 0 {
			name = "uncached"
		}
		b.Run(name, func(b *testing.B) {
			e, a := newEngine(b)
			e.auth.ttl = ttl
			e.opts.BcryptCost = bcrypt.DefaultCost // the production cost
			if err := e.SetPassword(ctx, a.ID, "secret"); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.Authenticate(ctx, "alice@example.org", "secret"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
