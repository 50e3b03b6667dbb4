package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/scanner"
)

// tm runs the built binary and returns its combined output.
func tm(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tidemark %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestBackupAndRestoreCLI drives the backup and restore commands against
// a real server and its repository: the status the running server reports
// over the admin socket, turning the scanner off and on, then with the
// server stopped verify, browse, scan, purge and config, and a restore into
// a new account that the restarted server serves over IMAP.
func TestBackupAndRestoreCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	dir := filepath.Join(top, "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)

	s := startServer(t, bin, dir)
	var acked sync.Map
	for w := 0; w < 2; w++ {
		deliverN(t, s.lmtp, fmt.Sprintf("b%d", w), 10, &acked)
	}
	var st scanner.Status
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := tm(t, bin, "backup", "status", "--json", "--data", dir)
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		if st.State == "running" && st.LagRecords == 0 && st.ShippedLSN > 0 && st.Blobs >= 20 && st.Snapshots > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backup did not catch up: %+v\n%s", st, s.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := tm(t, bin, "backup", "scanner", "off", "--data", dir); !strings.Contains(out, "disabled") {
		t.Fatalf("scanner off: %s", out)
	}
	if out := tm(t, bin, "backup", "scanner", "on", "--data", dir); strings.Contains(out, "disabled") {
		t.Fatalf("scanner on: %s", out)
	}
	s.stop(t)

	// With the server stopped, the commands open the catalog themselves.
	if out := tm(t, bin, "backup", "verify", "--read-data", "--data", dir); !strings.Contains(out, "no problems found") {
		t.Fatalf("verify of a sound repository:\n%s", out)
	}
	ls := tm(t, bin, "backup", "ls", "alice@example.org", "--at", "last", "--folder", "INBOX", "--data", dir)
	if got := strings.Count(ls, " INBOX "); got != 20 || !strings.Contains(ls, "20 items") {
		t.Fatalf("backup ls shows %d of 20 messages:\n%s", got, ls)
	}
	if ls := tm(t, bin, "backup", "ls", "alice@example.org", "--headers", "--data", dir); strings.Count(ls, "drill b") != 20 || !strings.Contains(ls, "drill@example.org") {
		t.Fatalf("backup ls --headers does not show subjects and senders:\n%s", ls)
	}
	tm(t, bin, "backup", "scan", "--data", dir)
	tm(t, bin, "backup", "purge", "--days", "0", "--data", dir)
	// A purge that runs writes a snapshot: it carries the provisioning too.
	tm(t, bin, "backup", "purge", "--days", "1", "--data", dir)
	if out := tm(t, bin, "backup", "config", "--provisioning", "--at", "last", "--data", dir); !strings.Contains(out, "alice@example.org") {
		t.Fatalf("backup config --provisioning after a purge does not show the accounts:\n%s", out)
	}
	if out := tm(t, bin, "backup", "config", "--data", dir); !strings.Contains(out, "[backup]") {
		t.Fatalf("backup config does not show tidemark.toml:\n%s", out)
	}
	rep := tm(t, bin, "restore", "account", "alice@example.org", "--at", "last", "--into", "alice2@example.org", "--data", dir)
	t.Logf("restore report:\n%s", rep)

	s = startServer(t, bin, dir)
	defer s.stop(t)
	box := mailboxOf(t, s.imap, "alice2@example.org", "pw")
	acked.Range(func(k, _ any) bool {
		if _, ok := box[k.(string)]; !ok {
			t.Errorf("restored account lacks %s", k)
		}
		return true
	})
	if len(box) != 20 {
		t.Fatalf("restored account holds %d messages, want 20", len(box))
	}
}

// deliverN delivers n messages over one LMTP connection and fails the test
// on any refusal.
func deliverN(t *testing.T, addr, prefix string, n int, acked *sync.Map) {
	t.Helper()
	var got sync.Map
	deliverLimit(addr, prefix, n, &got)
	c := 0
	got.Range(func(k, v any) bool { acked.Store(k, v); c++; return true })
	if c != n {
		t.Fatalf("%d of %d deliveries acknowledged", c, n)
	}
}

// waitShipped waits until the running server's scanner has shipped
// everything and holds at least blobs blobs.
func waitShipped(t *testing.T, bin, dir string, blobs int) scanner.Status {
	t.Helper()
	return waitShippedWithin(t, bin, dir, blobs, 20*time.Second)
}

// waitShippedWithin is waitShipped with its own time limit.
func waitShippedWithin(t *testing.T, bin, dir string, blobs int, limit time.Duration) scanner.Status {
	t.Helper()
	var st scanner.Status
	deadline := time.Now().Add(limit)
	for {
		out := tm(t, bin, "backup", "status", "--json", "--fresh", "--data", dir)
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		if st.State == "running" && st.LagRecords == 0 && st.ShippedLSN > 0 && st.Blobs >= blobs {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("backup did not catch up: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDisasterRecoveryDrill loses a server's data directory, rebuilds it
// from the repository alone, serves mail on the rebuilt server, and checks
// that the rebuilt server goes on backing up into the same repository, so
// a second disaster loses nothing either. A rebuild to an earlier time
// must not write a second history into the repository.
func TestDisasterRecoveryDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	dir := filepath.Join(top, "data")
	repoDir := filepath.Join(top, "repo")
	tm(t, bin, "init", "--data", dir)
	cfgPath := filepath.Join(dir, configFile)
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	raw = []byte(strings.Replace(string(raw), `repository = "../tidemark-backup"`, `repository = "`+repoDir+`"`, 1))
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)

	var acked sync.Map
	s := startServer(t, bin, dir)
	deliverN(t, s.lmtp, "first", 10, &acked)
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	deliverN(t, s.lmtp, "second", 10, &acked)
	waitShipped(t, bin, dir, 20)
	s.kill(t)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	// The disk is gone: rebuild from the repository and go on.
	dir2 := filepath.Join(top, "data2")
	out := tm(t, bin, "restore", "server", "--from", repoDir, "--data", dir2)
	if strings.Contains(out, "new repository") {
		t.Fatalf("a rebuild to the end must continue the repository:\n%s", out)
	}
	s = startServer(t, bin, dir2)
	deliverN(t, s.lmtp, "third", 10, &acked)
	st := waitShipped(t, bin, dir2, 30)
	box := mailboxOf(t, s.imap, "alice@example.org", "pw")
	s.stop(t)
	if len(box) != 30 {
		t.Fatalf("rebuilt server holds %d messages, want 30", len(box))
	}

	// A second disaster: everything must come back, both histories' mail.
	dir3 := filepath.Join(top, "data3")
	tm(t, bin, "restore", "server", "--from", repoDir, "--data", dir3)
	s = startServer(t, bin, dir3, "--no-backup")
	box = mailboxOf(t, s.imap, "alice@example.org", "pw")
	s.stop(t)
	acked.Range(func(k, _ any) bool {
		if _, ok := box[k.(string)]; !ok {
			t.Errorf("second rebuild lacks %s (shipped lsn %d)", k, st.ShippedLSN)
		}
		return true
	})

	// A rebuild to an earlier time starts a new history: it must back up
	// elsewhere.
	dir4 := filepath.Join(top, "data4")
	out = tm(t, bin, "restore", "server", "--from", repoDir, "--data", dir4, "--at", mid.Format(time.RFC3339Nano))
	if !strings.Contains(out, "new repository") {
		t.Fatalf("a rebuild to an earlier time must not continue the repository:\n%s", out)
	}
	s = startServer(t, bin, dir4)
	box = mailboxOf(t, s.imap, "alice@example.org", "pw")
	// The new repository is the rebuilt server's own: it ships there.
	if st := waitShipped(t, bin, dir4, 10); st.Refusal != nil || st.Epoch != 1 {
		t.Errorf("rebuilt server's new repository: %+v", st)
	}
	s.stop(t)
	if len(box) != 10 {
		t.Fatalf("rebuild as of the middle holds %d messages, want the first 10", len(box))
	}
}
