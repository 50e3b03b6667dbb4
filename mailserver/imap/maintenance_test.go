package imap

import (
	"context"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// An account put in maintenance (an in-place restore) has its open
// sessions closed with a BYE that says why; other accounts' sessions stay.
func TestMaintenanceClosesTheAccountsSessions(t *testing.T) {
	env := newEnv(t, nil)
	a := env.account("alice@example.com", 0)
	env.account("bob@example.com", 0)
	alice, bob := env.raw(), env.raw()
	for addr, r := range map[string]*rawConn{"alice@example.com": alice, "bob@example.com": bob} {
		if l := r.cmd("LOGIN %s %s", addr, testPassword); !strings.Contains(l[len(l)-1], "OK") {
			t.Fatalf("login %s: %q", addr, l)
		}
		r.cmd("SELECT INBOX")
	}
	st := event.StatusMaintenance
	if _, err := env.eng.ModifyAccount(context.Background(), a.ID, engine.AccountChange{Status: &st}); err != nil {
		t.Fatal(err)
	}
	if l := alice.line(); !strings.HasPrefix(l, "* BYE") || !strings.Contains(l, "maintenance") {
		t.Fatalf("alice's session got %q, want a BYE naming maintenance", l)
	}
	if l := bob.cmd("NOOP"); !strings.Contains(l[len(l)-1], "OK") {
		t.Fatalf("bob's session: %q", l)
	}
}
