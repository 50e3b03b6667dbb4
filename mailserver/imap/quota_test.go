package imap

import "testing"

// TestQuota follows RFC 9208: GETQUOTAROOT names the account's one root
// and its STORAGE usage and limit in KiB, GETQUOTA of it the same,
// GETQUOTA of another root is NO, SETQUOTA is refused, and an account
// without a limit has no quota root.
func TestQuota(t *testing.T) {
	env := newEnv(t, nil)
	env.account("small@example.com", 10<<10)
	env.account("alice@example.com", 0)
	c := env.login("small@example.com", nil)
	appendMsg(t, c, "INBOX", testMessage(1, "q"), nil)
	size := int64(len(testMessage(1, "q")))
	r := env.raw()
	r.cmd("LOGIN small@example.com %s", testPassword)
	if !has(r.cmd("CAPABILITY"), " QUOTA ") {
		t.Fatal("QUOTA not advertised")
	}
	want := "* QUOTA \"\" (STORAGE " + itoa(uint64((size+1023)/1024)) + " 10)\r\n"
	l := r.cmd("GETQUOTAROOT INBOX")
	lastOK(t, "GETQUOTAROOT", l)
	if !has(l, "* QUOTAROOT \"INBOX\" \"\"\r\n") || !has(l, want) {
		t.Fatalf("GETQUOTAROOT: %q, want %q", l, want)
	}
	l = r.cmd(`GETQUOTA ""`)
	if !has(l, want) {
		t.Fatalf("GETQUOTA: %q", l)
	}
	if l := r.cmd("GETQUOTA other"); !has(l, "NO [NONEXISTENT]") {
		t.Fatalf("GETQUOTA other: %q", l)
	}
	if l := r.cmd(`SETQUOTA "" (STORAGE 100)`); !has(l, "NO [NOPERM]") {
		t.Fatalf("SETQUOTA: %q", l)
	}
	if l := r.cmd("GETQUOTAROOT Nope"); !has(l, "NO [NONEXISTENT]") {
		t.Fatalf("GETQUOTAROOT of a missing mailbox: %q", l)
	}
	a := env.raw()
	a.cmd("LOGIN alice@example.com %s", testPassword)
	l = a.cmd("GETQUOTAROOT INBOX")
	if !has(l, "* QUOTAROOT \"INBOX\"\r\n") || has(l, "* QUOTA ") {
		t.Fatalf("GETQUOTAROOT without a limit: %q", l)
	}
}
