package imap

import (
	"strings"
	"testing"
)

func TestAddressListGroups(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []address
	}{
		{"undisclosed-recipients:;", []address{{Mailbox: "undisclosed-recipients"}, {}}},
		{`"Team A": a@x.org, "B, b" <b@y.org>; c@z.org`, []address{
			{Mailbox: "Team A"}, {Mailbox: "a", Host: "x.org"}, {Name: "B, b", Mailbox: "b", Host: "y.org"}, {},
			{Mailbox: "c", Host: "z.org"}}},
		{`x@a.org (Comment: here), Grp: y@b.org`, []address{
			{Name: "Comment: here", Mailbox: "x", Host: "a.org"}, {Mailbox: "Grp"}, {Mailbox: "y", Host: "b.org"}, {}}},
		{`broken@, ok@a.org`, []address{{Mailbox: "broken", Host: missingDomain}, {Mailbox: "ok", Host: "a.org"}}},
		{`=?utf-8?q?J=C3=BCrgen?= <j@a.org>`, []address{{Name: "=?utf-8?q?J=C3=BCrgen?=", Mailbox: "j", Host: "a.org"}}},
		{`Mr. Smith <s@x.org>, J.R.R. Tolkien <t@x.org>, John (middle) "Q." Public <q@x.org>`, []address{
			{Name: "Mr. Smith", Mailbox: "s", Host: "x.org"}, {Name: "J.R.R. Tolkien", Mailbox: "t", Host: "x.org"},
			{Name: "John Q. Public", Mailbox: "q", Host: "x.org"}}},
		{`"john doe"@x.org, user @ example . org, x@[1.2.3.4]`, []address{
			{Mailbox: "john doe", Host: "x.org"}, {Mailbox: "user", Host: "example.org"}, {Mailbox: "x", Host: "[1.2.3.4]"}}},
		{`tim@a.org concierge@a.org, Big Bug bb@b.org, Mary Smith, first . last@c.org>`, []address{
			{Mailbox: "tim", Host: "a.org"}, {Mailbox: "concierge", Host: "a.org"},
			{Name: "Big Bug", Mailbox: "bb", Host: "b.org"}, {Name: "Mary Smith", Mailbox: missingMailbox, Host: missingDomain},
			{Mailbox: "first.last", Host: "c.org"}}},
		{`foo, MAILER DAEMON <>, a@b.org, , (only a comment), "a\"b" <q@x.org>`, []address{
			{Mailbox: "foo", Host: missingDomain}, {Name: "MAILER DAEMON", Mailbox: missingMailbox, Host: missingDomain},
			{Mailbox: "a", Host: "b.org"}, {Name: `a"b`, Mailbox: "q", Host: "x.org"}}},
		{`<@relay.example:u@b.org>, Ann <@r1.example, @r2.example:ann@c.org>`, []address{
			{Route: "@relay.example", Mailbox: "u", Host: "b.org"},
			{Name: "Ann", Route: "@r1.example,@r2.example", Mailbox: "ann", Host: "c.org"}}},
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
	f.Add(`""<a.,gc;) x@.c`) // a ')' that closes no comment
	f.Add(`a]b <c@d]>`)      // a ']' that opens no domain literal
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

// TestEnvelopeDateAndRoute: ENVELOPE's date is the Date header as the
// message has it (RFC 9051 section 7.5.2 makes it the header's string):
// a weekday that does not fit the date, a folded value and a date no
// parser reads all come back as written, where they used to be
// reformatted or NIL. A source route ("<@relay:user@host>", RFC 5322
// section 4.4) is the address's second field instead of losing the whole
// address. The same holds for the envelope of an embedded message in
// BODYSTRUCTURE. Derived from the expectations of Dovecot's imaptest,
// written anew.
func TestEnvelopeDateAndRoute(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	for _, m := range []string{
		"Date: Sat, 01 Feb 2007 01:02:03 +0200\r\nFrom: <@relay.example:bob@example.org>\r\nSubject: one\r\n\r\nx\r\n",
		"Date: Tue, 2 Jan 2024\r\n 10:00:00 -0500\r\nFrom: Ann <ann@example.org>\r\n\r\nx\r\n",
		"Date: yesterday around noon\r\nFrom: Ann <ann@example.org>\r\n\r\nx\r\n",
		"From: Ann <ann@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n" +
			"Date: Sat, 01 Feb 2007 01:02:03 +0200\r\nFrom: Cy <@r1.example,@r2.example:cy@example.net>\r\n\r\ninner\r\n",
	} {
		appendMsg(t, c, "INBOX", []byte(m), nil)
	}
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	out := strings.Join(r.cmd("FETCH 1:3 ENVELOPE"), "")
	for _, want := range []string{
		`ENVELOPE ("Sat, 01 Feb 2007 01:02:03 +0200" "one" ((NIL "@relay.example" "bob" "example.org"))`,
		`ENVELOPE ("Tue, 2 Jan 2024 10:00:00 -0500" NIL (("Ann" NIL "ann" "example.org"))`,
		`ENVELOPE ("yesterday around noon" NIL (("Ann" NIL "ann" "example.org"))`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("FETCH ENVELOPE:\n%s\nwant it to contain %s", out, want)
		}
	}
	out = strings.Join(r.cmd("FETCH 4 BODYSTRUCTURE"), "")
	want := `("Sat, 01 Feb 2007 01:02:03 +0200" NIL (("Cy" "@r1.example,@r2.example" "cy" "example.net"))`
	if !strings.Contains(out, want) {
		t.Errorf("FETCH BODYSTRUCTURE:\n%s\nwant it to contain %s", out, want)
	}
}

// TestEnvelopeEmptyFields: a Date, Subject, In-Reply-To or Message-ID
// field the header has but leaves empty is "" in ENVELOPE, and only a
// field the header lacks is NIL (RFC 9051 section 7.5.2 gives these
// fields as the header's strings), as Dovecot answers.
func TestEnvelopeEmptyFields(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	appendMsg(t, c, "INBOX", []byte("Date: \r\nSubject:\r\nIn-Reply-To: \r\nMessage-ID: \r\nFrom: a@example.org\r\n\r\nx\r\n"), nil)
	appendMsg(t, c, "INBOX", []byte("From: a@example.org\r\n\r\nx\r\n"), nil)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	out := strings.Join(r.cmd("FETCH 1:2 ENVELOPE"), "")
	addr := `((NIL NIL "a" "example.org"))`
	for _, want := range []string{
		`ENVELOPE ("" "" ` + addr + ` ` + addr + ` ` + addr + ` NIL NIL NIL "" "")`,
		`ENVELOPE (NIL NIL ` + addr + ` ` + addr + ` ` + addr + ` NIL NIL NIL NIL NIL)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("FETCH ENVELOPE:\n%s\nwant it to contain %s", out, want)
		}
	}
}
