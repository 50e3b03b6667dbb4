package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark/tidemark/backup/scanner"
)

// mailDumps returns each account of a stopped data directory as its user
// sees it: folders, and items with ids, UIDs, flags, internal dates and
// content digests.
func mailDumps(t *testing.T, dir string, addrs ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	eng, _, err := openEngineForAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	out := map[string]string{}
	for _, addr := range addrs {
		a, err := eng.LookupAccount(ctx, addr)
		if err != nil {
			out[addr] = "no account: " + err.Error()
			continue
		}
		fs, err := eng.ListFolders(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(fs, func(i, j int) bool { return fs[i].Path < fs[j].Path })
		var b strings.Builder
		for _, f := range fs {
			fmt.Fprintf(&b, "folder %d %q uidvalidity %d\n", f.ID, f.Path, f.UIDValidity)
			items, err := eng.ListItems(ctx, a.ID, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				rc, _, err := eng.OpenBlob(ctx, a.ID, it.ID)
				if err != nil {
					t.Fatalf("%s item %d: %v", addr, it.ID, err)
				}
				body, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				fl := slices.Clone(it.Flags)
				sort.Strings(fl)
				fmt.Fprintf(&b, "  item %d uid %d flags %v date %d body %x\n", it.ID, it.UID, fl, it.InternalDate.UnixNano(), sha256.Sum256(body))
			}
		}
		out[addr] = b.String()
	}
	return out
}

// markSeen sets \Seen on the first n messages of an account's INBOX.
func markSeen(t *testing.T, addr, user string, n int) {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var set imap.SeqSet
	set.AddRange(1, uint32(n))
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
}

// waitScans waits until the running server's repository holds n SmartScan
// objects and the scanner has shipped everything.
func waitScans(t *testing.T, bin, dir string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st scanner.Status
		out := tm(t, bin, "backup", "status", "--json", "--fresh", "--data", dir)
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		if st.Scans >= n && st.LagRecords == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SmartScan after backup was turned on: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRestoreServerKeepsSmartScanMail is the disaster drill of an account
// whose class of service had backup off while it got mail (bob), and of
// one that was backed up, then not, then again (dave): when backup is
// turned on the running server's SmartScan captures their mailboxes, more
// mail comes, and a server rebuilt from the repository must hold every
// account's folders, messages and flags as the source did.
func TestRestoreServerKeepsSmartScanMail(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	dir := filepath.Join(top, "data")
	repoDir := filepath.Join(top, "repo")
	newServerWithRepo(t, bin, dir, repoDir)
	tm(t, bin, "cos", "create", "nob", "--backup=false", "--data", dir)
	tm(t, bin, "cos", "create", "part", "--backup=true", "--data", dir)
	tm(t, bin, "account", "create", "bob@example.org", "--password", "pw", "--cos", "nob", "--data", dir)
	tm(t, bin, "account", "create", "dave@example.org", "--password", "pw", "--cos", "part", "--data", dir)
	accounts := []string{"alice@example.org", "bob@example.org", "dave@example.org"}
	msg := func(to string, i int) []byte {
		return []byte(fmt.Sprintf("From: s@example.net\r\nTo: %s\r\nSubject: %d\r\nMessage-ID: <%s-%d@t>\r\n\r\nbody %d of %s\r\n", to, i, to, i, i, to))
	}

	s := startServer(t, bin, dir)
	for i := 0; i < 2; i++ {
		deliverRaw(t, s.lmtp, "alice@example.org", msg("alice", i))
		deliverRaw(t, s.lmtp, "dave@example.org", msg("dave", i))
	}
	for i := 0; i < 9; i++ {
		deliverRaw(t, s.lmtp, "bob@example.org", msg("bob", i))
	}
	markSeen(t, s.imap, "bob@example.org", 3)
	tm(t, bin, "cos", "modify", "part", "--backup=false", "--data", dir)
	for i := 2; i < 5; i++ {
		deliverRaw(t, s.lmtp, "dave@example.org", msg("dave", i))
	}
	markSeen(t, s.imap, "dave@example.org", 3)
	tm(t, bin, "cos", "modify", "nob", "--backup=true", "--data", dir)
	tm(t, bin, "cos", "modify", "part", "--backup=true", "--data", dir)
	waitScans(t, bin, dir, 1)
	for i := 9; i < 12; i++ {
		deliverRaw(t, s.lmtp, "bob@example.org", msg("bob", i))
	}
	deliverRaw(t, s.lmtp, "dave@example.org", msg("dave", 5))
	waitShipped(t, bin, dir, 19)
	s.stop(t)
	want := mailDumps(t, dir, accounts...)
	if n := strings.Count(want["bob@example.org"], "  item "); n != 12 {
		t.Fatalf("bob holds %d messages on the source, want 12:\n%s", n, want["bob@example.org"])
	}

	dir2 := filepath.Join(top, "data2")
	out := tm(t, bin, "restore", "server", "--from", repoDir, "--data", dir2)
	if strings.Contains(out, "not applied") || !strings.Contains(out, "SmartScan corrections") {
		t.Errorf("restore server output:\n%s", out)
	}
	got := mailDumps(t, dir2, accounts...)
	for _, a := range accounts {
		if got[a] != want[a] {
			t.Errorf("rebuilt %s differs from the source\nwant:\n%s\ngot:\n%s", a, want[a], got[a])
		}
	}
}
