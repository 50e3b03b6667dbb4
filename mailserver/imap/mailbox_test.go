package imap

import (
	"sort"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func listNames(t *testing.T, data []*imap.ListData) map[string][]imap.MailboxAttr {
	t.Helper()
	out := make(map[string][]imap.MailboxAttr)
	for _, d := range data {
		out[d.Mailbox] = d.Attrs
	}
	return out
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}

func TestMailboxCommands(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)

	// CREATE makes missing superiors; CREATE-SPECIAL-USE is honoured.
	if err := c.Create("Projects/2024/Q1", nil).Wait(); err != nil {
		t.Fatalf("create nested: %v", err)
	}
	if err := c.Create("Archive", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrArchive}}).Wait(); err != nil {
		t.Fatalf("create special-use: %v", err)
	}
	wantCode(t, "create existing", c.Create("Projects", nil).Wait(), imap.ResponseCodeAlreadyExists)

	all, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	names := listNames(t, all)
	var got []string
	for n := range names {
		got = append(got, n)
	}
	sort.Strings(got)
	want := "Archive Drafts INBOX Junk Projects Projects/2024 Projects/2024/Q1 Sent Trash"
	if strings.Join(got, " ") != want {
		t.Fatalf("LIST * = %v, want %s", got, want)
	}
	if !hasAttr(names["Projects"], imap.MailboxAttrHasChildren) || !hasAttr(names["Projects/2024/Q1"], imap.MailboxAttrHasNoChildren) {
		t.Errorf("CHILDREN attrs: Projects %v, Q1 %v", names["Projects"], names["Projects/2024/Q1"])
	}
	if !hasAttr(names["Sent"], imap.MailboxAttrSent) || !hasAttr(names["Archive"], imap.MailboxAttrArchive) {
		t.Errorf("special use: Sent %v, Archive %v", names["Sent"], names["Archive"])
	}
	if all[0].Delim != '/' {
		t.Errorf("delimiter %q", all[0].Delim)
	}

	top, err := c.List("", "%", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := listNames(t, top)["Projects/2024"]; ok || len(top) != 7 {
		t.Errorf("LIST %% = %v", listNames(t, top))
	}
	inbox, err := c.List("", "inbox", nil).Collect()
	if err != nil || len(inbox) != 1 || inbox[0].Mailbox != "INBOX" {
		t.Errorf("LIST inbox = %v, %v", inbox, err)
	}

	// LIST-EXTENDED: SPECIAL-USE selection, STATUS return.
	su, err := c.List("", "*", &imap.ListOptions{SelectSpecialUse: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(su); n != 5 {
		t.Errorf("LIST (SPECIAL-USE) gave %d mailboxes: %v", n, listNames(t, su))
	}
	ls, err := c.List("", "INBOX", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true, Size: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Status == nil || ls[0].Status.NumMessages == nil || *ls[0].Status.NumMessages != 0 {
		t.Errorf("LIST RETURN (STATUS) = %+v", ls)
	}

	// SUBSCRIBE / UNSUBSCRIBE / LSUB and LIST (SUBSCRIBED).
	if err := c.Subscribe("Projects/2024").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Unsubscribe("Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	subs, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	sn := listNames(t, subs)
	if _, ok := sn["Projects/2024"]; !ok {
		t.Errorf("subscribed list lacks Projects/2024: %v", sn)
	}
	if _, ok := sn["Junk"]; ok {
		t.Errorf("subscribed list still has Junk: %v", sn)
	}
	if !hasAttr(sn["Projects/2024"], imap.MailboxAttrSubscribed) {
		t.Errorf("no \\Subscribed on Projects/2024: %v", sn["Projects/2024"])
	}
	// A name without a mailbox can be subscribed (RFC 9051 6.3.7).
	if err := c.Subscribe("Nope").Wait(); err != nil {
		t.Errorf("subscribe missing: %v", err)
	}

	raw := env.raw()
	raw.cmd("LOGIN alice@example.com %s", testPassword)
	lsub := strings.Join(raw.cmd(`LSUB "" "*"`), "")
	if !strings.Contains(lsub, `"/" "Projects/2024"`) || strings.Contains(lsub, "Junk") {
		t.Errorf("LSUB:\n%s", lsub)
	}

	// RENAME moves the subtree; DELETE refuses a parent, then works.
	if err := c.Rename("Projects", "Work/Projects", nil).Wait(); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if _, err := c.Status("Work/Projects/2024/Q1", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
		t.Errorf("status after rename: %v", err)
	}
	wantCode(t, "status of old name", func() error {
		_, err := c.Status("Projects", &imap.StatusOptions{NumMessages: true}).Wait()
		return err
	}(), imap.ResponseCodeNonExistent)
	if err := c.Delete("Work/Projects/2024").Wait(); err == nil {
		t.Errorf("delete of a folder with children succeeded")
	}
	if err := c.Delete("Work/Projects/2024/Q1").Wait(); err != nil {
		t.Fatalf("delete leaf: %v", err)
	}
	wantCode(t, "delete missing", c.Delete("Work/Projects/2024/Q1").Wait(), imap.ResponseCodeNonExistent)
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Errorf("delete INBOX succeeded")
	}

	ns, err := c.Namespace().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Personal) != 1 || ns.Personal[0].Prefix != "" || ns.Personal[0].Delim != '/' || len(ns.Shared) != 0 {
		t.Errorf("namespace = %+v", ns)
	}
	wantCode(t, "select missing", func() error { _, err := c.Select("Nope", nil).Wait(); return err }(), imap.ResponseCodeNonExistent)
}
