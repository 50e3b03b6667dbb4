package imap

import (
	"strings"
	"testing"
)

// TestCreateDoesNotSubscribe: CREATE (and the superiors it creates) does
// not subscribe the new mailbox; SUBSCRIBE does (RFC 9051 6.3.4, 6.3.7).
// It used to subscribe every mailbox it created.
func TestCreateDoesNotSubscribe(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	lastOK(t, "CREATE", r.cmd("CREATE Projects/2024"))
	if l := strings.Join(r.cmd(`LSUB "" "Projects*"`), ""); strings.Contains(l, "* LSUB") {
		t.Fatalf("LSUB after CREATE: %q", l)
	}
	lastOK(t, "SUBSCRIBE", r.cmd("SUBSCRIBE Projects/2024"))
	if l := strings.Join(r.cmd(`LSUB "" "Projects*"`), ""); !strings.Contains(l, `"Projects/2024"`) || strings.Count(l, "* LSUB") != 1 {
		t.Fatalf("LSUB after SUBSCRIBE: %q", l)
	}
}
