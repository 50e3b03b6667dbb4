package engine

import (
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestUnknownUserHashes: a login for an unknown address makes the same
// bcrypt comparison, at the same cost, as a wrong password for a real one,
// so the two cannot be told apart by how long they take. Counted through
// compareHash, not timed.
func TestUnknownUserHashes(t *testing.T) {
	e, _ := newEngine(t)
	var costs []int
	orig := compareHash
	compareHash = func(hash, pw []byte) error {
		c, err := bcrypt.Cost(hash)
		if err != nil {
			t.Errorf("compared against a malformed hash %q: %v", hash, err)
		}
		costs = append(costs, c)
		return orig(hash, pw)
	}
	defer func() { compareHash = orig }()

	if _, err := e.Authenticate(ctx, "alice@example.org", "wrong"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := e.Authenticate(ctx, "nobody@example.org", "wrong"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := e.Authenticate(ctx, "nobody@nowhere.example", "secret"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("unknown domain: %v", err)
	}
	if len(costs) != 3 || costs[1] != costs[0] || costs[2] != costs[0] || costs[0] != e.opts.BcryptCost {
		t.Fatalf("bcrypt costs per attempt %v, want three of cost %d", costs, e.opts.BcryptCost)
	}
	// The cache still answers a right password without hashing again.
	costs = nil
	for i := 0; i < 2; i++ {
		if _, err := e.Authenticate(ctx, "alice@example.org", "secret"); err != nil {
			t.Fatal(err)
		}
	}
	if len(costs) != 1 {
		t.Fatalf("two right logins hashed %d times, want 1 (cached)", len(costs))
	}
}
