package imap

import (
	"strings"
	"testing"
)

// TestFetchUIDOnlyWhenAsked: a FETCH response carries UID when the
// client asked for it or sent UID FETCH (RFC 9051 section 6.4.9), and
// not otherwise, so a flag refetch of a large folder is no larger than
// it must be.
func TestFetchUIDOnlyWhenAsked(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	appendMsg(t, c, "INBOX", []byte("Subject: u\r\n\r\nbody\r\n"), nil)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	for _, tc := range []struct {
		cmd     string
		wantUID bool
	}{
		{"FETCH 1 (FLAGS)", false},
		{"FETCH 1 (FLAGS UID)", true},
		{"UID FETCH 1:* (FLAGS)", true},
		{"FETCH 1 (RFC822.SIZE)", false},
		{"FETCH 1 (MODSEQ)", false},
	} {
		out := r.cmd("%s", tc.cmd)
		var data string
		for _, l := range out {
			if strings.HasPrefix(l, "* 1 FETCH") {
				data = l
			}
		}
		if data == "" || !strings.HasPrefix(lastLine(strings.Join(out, "")), "T") || !strings.Contains(lastLine(strings.Join(out, "")), " OK") {
			t.Fatalf("%s: %q", tc.cmd, out)
		}
		if got := strings.Contains(data, "UID 1"); got != tc.wantUID {
			t.Errorf("%s: %q, UID present %v, want %v", tc.cmd, data, got, tc.wantUID)
		}
	}
}
