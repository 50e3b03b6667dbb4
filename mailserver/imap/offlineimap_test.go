package imap

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// maildirMessages reads every message of a Maildir folder (cur and new)
// with CRLF line ends, sorted.
func maildirMessages(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"cur", "new"} {
		files, _ := filepath.Glob(filepath.Join(dir, sub, "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(crlf(b))) // Maildir files have LF line ends
		}
	}
	sort.Strings(out)
	return out
}

// TestOfflineimapRoundTrip syncs an account with offlineimap (offlineimap3)
// into a Maildir, checks every message arrived byte for byte, then adds a
// message and a flag on the Maildir side and checks a second run puts both
// on the server.
func TestOfflineimapRoundTrip(t *testing.T) {
	tool := requireTool(t, "offlineimap", "offlineimap3")
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	a := env.login("alice@example.com", nil)
	if err := a.Create("Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range []string{"INBOX", "Work"} {
		for i := 0; i < 3; i++ {
			n++
			appendMsg(t, a, f, testMessage(n, fmt.Sprintf("%s %d", f, i)), nil)
		}
	}
	a.Logout()
	want := env.mailboxContents("alice@example.com")

	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(env.addr)
	rc := fmt.Sprintf(`[general]
accounts = alice
metadata = %[1]s/meta
ui = basic

[Account alice]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = %[1]s/mail

[Repository remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = %[2]s
remoteuser = alice@example.com
remotepass = %[3]s
ssl = no
starttls = no
folderfilter = lambda f: f in ['INBOX', 'Work']
`, dir, port, testPassword)
	rcPath := filepath.Join(dir, "offlineimaprc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	runTool(t, dir, tool, "-c", rcPath, "-o")
	for _, f := range []string{"INBOX", "Work"} {
		got := maildirMessages(t, filepath.Join(dir, "mail", f))
		if len(got) != len(want[f]) {
			t.Fatalf("%s: %d messages in the Maildir, want %d", f, len(got), len(want[f]))
		}
		for i := range got {
			if got[i] != want[f][i] {
				t.Errorf("%s: message differs:\n got %q\nwant %q", f, got[i], want[f][i])
			}
		}
	}

	// A new local message and a local \Flagged go up on the next run.
	inbox := filepath.Join(dir, "mail", "INBOX")
	files, _ := filepath.Glob(filepath.Join(inbox, "new", "*"))
	if len(files) == 0 {
		t.Fatalf("no unseen message in %s/new", inbox)
	}
	sort.Strings(files)
	name := filepath.Base(files[0])
	if i := strings.LastIndex(name, ":2,"); i >= 0 {
		name = name[:i]
	}
	if err := os.Rename(files[0], filepath.Join(inbox, "cur", name+":2,F")); err != nil {
		t.Fatal(err)
	}
	newMsg := testMessage(99, "written offline")
	if err := os.WriteFile(filepath.Join(dir, "mail", "INBOX", "new", "1700000000.offline.local"), newMsg, 0o600); err != nil {
		t.Fatal(err)
	}
	runTool(t, dir, tool, "-c", rcPath, "-o")
	c := env.login("alice@example.com", nil)
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	body := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{body}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	flagged, uploaded := 0, false
	for _, m := range msgs {
		if strings.Contains(flagStrings(m.Flags), `\Flagged`) {
			flagged++
		}
		// offlineimap adds its own X-OfflineIMAP header to what it uploads.
		if bytes.Contains(m.FindBodySection(body), []byte("Subject: written offline")) {
			uploaded = true
		}
	}
	if len(msgs) != 4 || flagged != 1 || !uploaded {
		t.Fatalf("server INBOX after the second run: %d messages, %d flagged, upload found %v; want 4, 1, true", len(msgs), flagged, uploaded)
	}
}
