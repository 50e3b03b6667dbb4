package imap

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// requireTool returns the path of a real third-party client, skipping the
// test when it is missing unless TIDEMARK_REQUIRE_CLIENTS=1 (CI), where a
// missing client is a failure.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("TIDEMARK_REQUIRE_CLIENTS") == "1" {
			t.Fatalf("%s required (TIDEMARK_REQUIRE_CLIENTS=1) but not installed: apt-get install %s", name, pkg)
		}
		t.Skipf("%s not installed (apt-get install %s); set TIDEMARK_REQUIRE_CLIENTS=1 to make this a failure", name, pkg)
	}
	return p
}

func runTool(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// mailboxContents returns every message of every folder of addr, as
// folder → sorted list of raw messages.
func (env *testEnv) mailboxContents(addr string) map[string][]string {
	env.t.Helper()
	c := env.login(addr, nil)
	defer c.Logout()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		env.t.Fatal(err)
	}
	out := make(map[string][]string)
	for _, l := range list {
		sel, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			env.t.Fatal(err)
		}
		if sel.NumMessages == 0 {
			continue
		}
		body := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{body}}).Collect()
		if err != nil {
			env.t.Fatal(err)
		}
		for _, m := range msgs {
			out[l.Mailbox] = append(out[l.Mailbox], string(m.FindBodySection(body)))
		}
		sort.Strings(out[l.Mailbox])
	}
	return out
}

var tuidLine = regexp.MustCompile(`(?m)^X-TUID: [^\r\n]*\r\n`)

// TestMbsyncRoundTrip pulls several folders of one account into a
// Maildir with mbsync (isync), pushes the Maildir into a second account,
// and checks that every folder came back byte for byte.
func TestMbsyncRoundTrip(t *testing.T) {
	mbsync := requireTool(t, "mbsync", "isync")
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	env.account("bob@example.com", 0)
	a := env.login("alice@example.com", nil)
	for _, f := range []string{"Work", "Work/Reports", "Lists"} {
		if err := a.Create(f, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, f := range []string{"INBOX", "Work", "Work/Reports", "Lists", "Sent"} {
		for i := 0; i < 4; i++ {
			n++
			msg := testMessage(n, fmt.Sprintf("%s message %d", f, i))
			msg = append(msg, []byte("Trailing line with \t tab and 8bit: caf\xc3\xa9\r\n")...)
			flags := []imap.Flag{}
			if i%2 == 0 {
				flags = append(flags, imap.FlagSeen)
			}
			appendMsg(t, a, f, msg, &imap.AppendOptions{Flags: flags})
		}
	}
	a.Logout()
	want := env.mailboxContents("alice@example.com")

	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(env.addr)
	rc := fmt.Sprintf(`IMAPAccount alice
Host 127.0.0.1
Port %[1]s
User alice@example.com
Pass %[2]s
SSLType None
AuthMechs LOGIN

IMAPStore alice-remote
Account alice

IMAPAccount bob
Host 127.0.0.1
Port %[1]s
User bob@example.com
Pass %[2]s
SSLType None
AuthMechs LOGIN

IMAPStore bob-remote
Account bob

MaildirStore local
Path %[3]s/mail/
Inbox %[3]s/mail/INBOX
SubFolders Verbatim

Channel pull
Far :alice-remote:
Near :local:
Patterns *
Create Near
Sync Pull
SyncState *

Channel push
Far :bob-remote:
Near :local:
Patterns *
Create Far
Sync Push
SyncState %[3]s/pushstate/
`, port, testPassword, dir)
	os.MkdirAll(filepath.Join(dir, "pushstate"), 0o755)
	os.MkdirAll(filepath.Join(dir, "mail"), 0o755)
	rcPath := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	runTool(t, dir, mbsync, "-c", rcPath, "pull")
	if out := runTool(t, dir, mbsync, "-D", "-c", rcPath, "push"); os.Getenv("MBSYNC_DEBUG") != "" {
		t.Log(out)
	}

	// mbsync inserts its own bookkeeping header, X-TUID, into every
	// message it uploads (isync does this even when the server has
	// UIDPLUS); that line is the only difference allowed.
	got := env.mailboxContents("bob@example.com")
	for folder, msgs := range got {
		for i, m := range msgs {
			msgs[i] = tuidLine.ReplaceAllString(m, "")
		}
		sort.Strings(msgs)
		got[folder] = msgs
	}
	total := 0
	for folder, msgs := range want {
		total += len(msgs)
		g := got[folder]
		if len(g) != len(msgs) {
			t.Errorf("%s: %d messages after the round trip, want %d", folder, len(g), len(msgs))
			continue
		}
		for i := range msgs {
			if !bytes.Equal([]byte(g[i]), []byte(msgs[i])) {
				t.Errorf("%s: message differs after the round trip:\n got %q\nwant %q", folder, g[i], msgs[i])
			}
		}
	}
	if total != 20 {
		t.Errorf("source held %d messages, want 20", total)
	}
}

// TestPythonImaplib drives the server with Python's imaplib: login,
// list, select, append, fetch, store, search, copy, expunge, logout.
func TestPythonImaplib(t *testing.T) {
	py := requireTool(t, "python3", "python3")
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	host, port, _ := net.SplitHostPort(env.addr)
	script := `
import imaplib, sys
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
M = imaplib.IMAP4(host, port)
assert 'IMAP4REV2' in M.capabilities or 'IMAP4REV1' in M.capabilities, M.capabilities
typ, _ = M.login(user, pw); assert typ == 'OK'
typ, data = M.list(); assert typ == 'OK' and any(b'INBOX' in d for d in data), data
msg = b'From: py@example.org\r\nSubject: from python\r\n\r\nHello from imaplib.\r\n'
typ, data = M.append('INBOX', '(\\Flagged)', None, msg); assert typ == 'OK', data
typ, data = M.select('INBOX'); assert typ == 'OK' and data[0] == b'1', data
typ, data = M.fetch('1', '(BODY.PEEK[] FLAGS)'); assert typ == 'OK'
assert data[0][1] == msg, data
assert b'\\Flagged' in data[0][0], data
typ, data = M.store('1', '+FLAGS', '(\\Seen)'); assert typ == 'OK' and b'\\Seen' in data[0], data
typ, data = M.search(None, 'SUBJECT', '"from python"'); assert typ == 'OK' and data[0] == b'1', data
typ, data = M.uid('SEARCH', 'SEEN'); assert typ == 'OK' and data[0] == b'1', data
typ, data = M.copy('1', 'Trash'); assert typ == 'OK', data
typ, data = M.status('Trash', '(MESSAGES)'); assert typ == 'OK' and b'MESSAGES 1' in data[0], data
typ, data = M.store('1', '+FLAGS', '(\\Deleted)'); assert typ == 'OK'
typ, data = M.expunge(); assert typ == 'OK' and data[0] == b'1', data
M.close()
M.logout()
print('ok')
`
	dir := t.TempDir()
	sp := filepath.Join(dir, "client.py")
	if err := os.WriteFile(sp, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runTool(t, dir, py, sp, host, port, "alice@example.com", testPassword)
	if out != "ok\n" {
		t.Fatalf("imaplib script: %s", out)
	}
}
