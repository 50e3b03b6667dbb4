package imap

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
)

func TestLoginCapabilities(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)

	c := env.dial(nil)
	err := c.Login("alice@example.com", "wrong").Wait()
	wantCode(t, "login with wrong password", err, imap.ResponseCodeAuthenticationFailed)
	err = c.Login("nobody@example.com", testPassword).Wait()
	wantCode(t, "login unknown user", err, imap.ResponseCodeAuthenticationFailed)
	if err := c.Login("ALICE@example.com", testPassword).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{imap.CapIMAP4rev1, imap.CapIMAP4rev2, imap.CapIdle, imap.CapNamespace,
		imap.CapUIDPlus, imap.CapESearch, imap.CapSearchRes, imap.CapListExtended, imap.CapListStatus,
		imap.CapMove, imap.CapStatusSize, imap.CapBinary, imap.CapChildren, imap.CapSpecialUse,
		imap.CapLiteralPlus, imap.CapUnselect, imap.CapEnable, imap.CapAppendLimit} {
		if !caps.Has(want) {
			t.Errorf("capability %s missing from %v", want, caps)
		}
	}

	c2 := env.dial(nil)
	if err := c2.Authenticate(sasl.NewPlainClient("", "alice@example.com", testPassword)); err != nil {
		t.Fatalf("AUTHENTICATE PLAIN: %v", err)
	}
	c3 := env.dial(nil)
	err = c3.Authenticate(sasl.NewPlainClient("", "alice@example.com", "bad"))
	wantCode(t, "AUTHENTICATE PLAIN bad password", err, imap.ResponseCodeAuthenticationFailed)
}

func TestAppendFetch(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)

	date := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
	msg := []byte("From: A <a@example.org>\r\nTo: b@example.com\r\nSubject: multipart\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nhello part one\r\n" +
		"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gYmluYXJ5\r\n" +
		"--XX--\r\n")
	ad := appendMsg(t, c, "INBOX", msg, &imap.AppendOptions{Flags: []imap.Flag{"\\flagged", "Work"}, Time: date})
	if ad.UID != 1 || ad.UIDValidity == 0 {
		t.Fatalf("APPENDUID = %+v", ad)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 1 || sel.UIDValidity != ad.UIDValidity {
		t.Fatalf("select = %+v", sel)
	}
	hasWork := false
	for _, f := range sel.Flags {
		hasWork = hasWork || f == "Work"
	}
	if !hasWork {
		t.Errorf("FLAGS %v lacks keyword Work", sel.Flags)
	}

	whole := &imap.FetchItemBodySection{Peek: true}
	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	text := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}
	part1 := &imap.FetchItemBodySection{Part: []int{1}, Peek: true}
	fields := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}
	part := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 6, Size: 10}}
	bin := &imap.FetchItemBinarySection{Part: []int{2}, Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
		BodyStructure:     &imap.FetchItemBodyStructure{Extended: true},
		BodySection:       []*imap.FetchItemBodySection{whole, header, text, part1, fields, part},
		BinarySection:     []*imap.FetchItemBinarySection{bin},
		BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2}}},
	}).Collect()
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("fetched %d messages", len(msgs))
	}
	m := msgs[0]
	if m.UID != 1 || m.RFC822Size != int64(len(msg)) || !m.InternalDate.Equal(date) {
		t.Errorf("uid %d size %d date %v", m.UID, m.RFC822Size, m.InternalDate)
	}
	// \Recent too: this session selected INBOX first (RFC 3501 2.3.2).
	if got := flagStrings(m.Flags); got != `Work \Flagged \Recent` && got != `\Flagged Work \Recent` {
		t.Errorf("flags %q, want \\Flagged (canonical), Work and \\Recent", got)
	}
	if !bytes.Equal(m.FindBodySection(whole), msg) {
		t.Errorf("BODY[] differs:\n%q", m.FindBodySection(whole))
	}
	h, b := string(m.FindBodySection(header)), string(m.FindBodySection(text))
	if h+b != string(msg) || !strings.HasSuffix(h, "\r\n\r\n") {
		t.Errorf("HEADER+TEXT != message: %q + %q", h, b)
	}
	if got := string(m.FindBodySection(part1)); got != "hello part one" {
		t.Errorf("BODY[1] = %q", got)
	}
	if got := string(m.FindBodySection(fields)); got != "Subject: multipart\r\n\r\n" {
		t.Errorf("HEADER.FIELDS = %q", got)
	}
	if got := string(m.FindBodySection(part)); got != string(msg[6:16]) {
		t.Errorf("BODY[]<6.10> = %q", got)
	}
	if got := string(m.FindBinarySection(bin)); got != "hello binary" {
		t.Errorf("BINARY[2] = %q", got)
	}
	if m.Envelope == nil || m.Envelope.Subject != "multipart" || len(m.Envelope.From) != 1 || m.Envelope.From[0].Host != "example.org" {
		t.Errorf("envelope = %+v", m.Envelope)
	}
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || mp.Subtype != "mixed" || len(mp.Children) != 2 {
		t.Errorf("bodystructure = %#v", m.BodyStructure)
	}

	// A non-PEEK fetch sets \Seen and reports it.
	msgs, err = c.Fetch(imap.UIDSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierText}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(flagStrings(msgs[0].Flags), `\Seen`) {
		t.Errorf("flags after BODY[TEXT] = %v, want \\Seen", msgs[0].Flags)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumUnseen: true, Size: true, UIDNext: true, NumDeleted: true, AppendLimit: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 1 || *st.NumUnseen != 0 || *st.Size != int64(len(msg)) || st.UIDNext != 2 || *st.NumDeleted != 0 || *st.AppendLimit != DefaultAppendLimit {
		t.Errorf("status = %+v", st)
	}
}

func flagStrings(flags []imap.Flag) string {
	s := make([]string, len(flags))
	for i, f := range flags {
		s[i] = string(f)
	}
	return strings.Join(s, " ")
}
