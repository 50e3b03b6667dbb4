package imap

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestAddressListGroups(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []imap.Address
	}{
		{"undisclosed-recipients:;", []imap.Address{{Mailbox: "undisclosed-recipients"}, {}}},
		{`"Team A": a@x.org, "B, b" <b@y.org>; c@z.org`, []imap.Address{
			{Mailbox: "Team A"}, {Mailbox: "a", Host: "x.org"}, {Name: "B, b", Mailbox: "b", Host: "y.org"}, {},
			{Mailbox: "c", Host: "z.org"}}},
		{`x@a.org (Comment: here), Grp: y@b.org`, []imap.Address{
			{Name: "Comment: here", Mailbox: "x", Host: "a.org"}, {Mailbox: "Grp"}, {Mailbox: "y", Host: "b.org"}, {}}},
		{`broken@, ok@a.org`, []imap.Address{{Mailbox: "ok", Host: "a.org"}}},
		{`=?utf-8?q?J=C3=BCrgen?= <j@a.org>`, []imap.Address{{Name: "Jürgen", Mailbox: "j", Host: "a.org"}}},
	} {
		got := addressList(c.in)
		if len(got) != len(c.want) {
			t.Errorf("addressList(%q) = %+v, want %+v", c.in, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("addressList(%q)[%d] = %+v, want %+v", c.in, i, got[i], c.want[i])
			}
		}
	}
}

// TestEnvelopeGroups: ENVELOPE keeps address groups as RFC 9051's group
// markers (undisclosed-recipients:; used to come back as NIL) and fills an
// absent Sender and Reply-To with From.
func TestEnvelopeGroups(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	appendMsg(t, c, "INBOX", []byte("From: Ann <ann@example.org>\r\nTo: undisclosed-recipients:;\r\nSubject: g\r\n\r\nx\r\n"), nil)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	l := strings.Join(r.cmd("FETCH 1 ENVELOPE"), "")
	want := `(("Ann" NIL "ann" "example.org")) (("Ann" NIL "ann" "example.org")) (("Ann" NIL "ann" "example.org")) ((NIL NIL "undisclosed-recipients" NIL) (NIL NIL NIL NIL)) NIL NIL`
	if !strings.Contains(l, want) {
		t.Fatalf("ENVELOPE %q\nwant it to contain %q", l, want)
	}
}

// FuzzAddressList: any header value parses without panic, and group
// markers always come in start/end pairs.
func FuzzAddressList(f *testing.F) {
	f.Add("undisclosed-recipients:;")
	f.Add(`"A:B" <a@b.c>, g: (c;) x@y.z ;`)
	f.Add(`a\`)
	f.Fuzz(func(t *testing.T, v string) {
		open := false
		for _, a := range addressList(v) {
			switch {
			case a.Host != "":
			case a.Mailbox != "" || a.Name != "":
				if open {
					t.Fatalf("nested group start in %q", v)
				}
				open = true
			default:
				if !open {
					t.Fatalf("group end without start in %q", v)
				}
				open = false
			}
		}
		if open {
			t.Fatalf("unterminated group in %q", v)
		}
	})
}
