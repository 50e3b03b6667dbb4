package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/scanner"
)

// tmFail runs the built binary, expects it to fail, and returns its
// combined output.
func tmFail(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err == nil {
		t.Fatalf("tidemark %s succeeded, want a failure:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

// waitRefused waits until the server on dir reports that it refuses to
// ship, and returns that status.
func waitRefused(t *testing.T, bin, dir string, s *server) scanner.Status {
	t.Helper()
	var st scanner.Status
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out := tm(t, bin, "backup", "status", "--json", "--data", dir)
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		if st.State == "refused" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server on %s does not refuse the repository: %+v\n%s", dir, st, s.log)
		}
	}
	if st.Refusal == nil || len(st.Resolve) == 0 || !strings.Contains(strings.Join(st.Resolve, "\n"), "[backup] repository") {
		t.Fatalf("refused status without the commands that resolve it: %+v", st)
	}
	return st
}

// TestRepositoryOwnership runs the cases in which a backup repository
// used to take records from two server histories: a second data directory
// beside the first sharing ../tidemark-backup, a data directory removed and
// started afresh, and the original server started again after restore
// server rebuilt another one from the repository. Each must refuse to ship,
// keep taking mail, and say so in status, verify and the log; the owner
// goes on; take-ownership resolves the refusal when the server's history
// continues the repository's and is refused when it does not.
func TestRepositoryOwnership(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	// Servers left running by a failure must not outlive the test.
	startServer := func(t *testing.T, bin, dir string, extra ...string) *server {
		s := startServer(t, bin, dir, extra...)
		t.Cleanup(func() { s.kill(t) })
		return s
	}
	dir := filepath.Join(top, "data")
	repoDir := filepath.Join(top, "tidemark-backup") // the default ../tidemark-backup
	tm(t, bin, "init", "--data", dir)
	if st, err := os.Stat(filepath.Join(dir, identityFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("server identity: %v %v", st, err)
	}
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)

	var acked sync.Map
	s1 := startServer(t, bin, dir)
	deliverN(t, s1.lmtp, "one", 5, &acked)
	st := waitShipped(t, bin, dir, 5)
	if st.Server == "" || st.Epoch != 1 {
		t.Fatalf("first server does not own its new repository: %+v", st)
	}

	// A second data directory in the same parent folder.
	dir2 := filepath.Join(top, "data2")
	tm(t, bin, "init", "--data", dir2)
	tm(t, bin, "domain", "create", "example.org", "--data", dir2)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir2)
	s2 := startServer(t, bin, dir2)
	deliverN(t, s2.lmtp, "two", 3, &sync.Map{})
	st2 := waitRefused(t, bin, dir2, s2)
	if st2.Refusal.CanTakeOwnership || strings.Contains(strings.Join(st2.Resolve, " "), "take-ownership") {
		t.Fatalf("a server with another history is offered take-ownership: %+v", st2)
	}
	if out := tm(t, bin, "backup", "status", "--data", dir2); !strings.Contains(out, "refused") || !strings.Contains(out, "resolve") {
		t.Fatalf("status does not show the refusal:\n%s", out)
	}
	if out := tmFail(t, bin, "backup", "verify", "--sync", "--data", dir2); !strings.Contains(out, "not-owner") {
		t.Fatalf("verify on a refused server:\n%s", out)
	}
	if out := tmFail(t, bin, "backup", "take-ownership", "--yes", "--data", dir2); !strings.Contains(out, "new location") {
		t.Fatalf("take-ownership by a server with another history:\n%s", out)
	}
	if box := mailboxOf(t, s2.imap, "alice@example.org", "pw"); len(box) != 3 {
		t.Fatalf("refused server holds %d of 3 messages", len(box))
	}
	// The owner is undisturbed.
	deliverN(t, s1.lmtp, "one-b", 5, &acked)
	waitShipped(t, bin, dir, 10)
	s2.stop(t)
	if n := strings.Count(s2.log.String(), "NOT SHIPPING"); n != 1 {
		t.Fatalf("the refusal is logged %d times, want once:\n%s", n, s2.log)
	}
	if out := tmFail(t, bin, "backup", "verify", "--data", dir2); !strings.Contains(out, "not-owner") {
		t.Fatalf("verify on a stopped refused server:\n%s", out)
	}

	// The original server is lost and rebuilt from the repository; the
	// rebuilt server takes ownership.
	s1.stop(t)
	rebuilt := filepath.Join(top, "rebuilt")
	out := tm(t, bin, "restore", "server", "--from", repoDir, "--data", rebuilt)
	if !strings.Contains(out, "now owns the repository") {
		t.Fatalf("restore server does not take ownership:\n%s", out)
	}
	cfg, _, err := loadConfig(rebuilt)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Backup.Repository != repoDir {
		t.Fatalf("rebuilt server backs up to %q, want %q", cfg.Backup.Repository, repoDir)
	}

	// The original comes back: it must refuse, and keep taking mail.
	s1 = startServer(t, bin, dir)
	deliverN(t, s1.lmtp, "while-refused", 4, &acked)
	st = waitRefused(t, bin, dir, s1)
	if !st.Refusal.CanTakeOwnership || st.LagRecords < 4 {
		t.Fatalf("original server's refusal: %+v", st)
	}
	t.Logf("status of the refused original:\n%s", tm(t, bin, "backup", "status", "--data", dir))
	if out := tmFail(t, bin, "backup", "verify", "--sync", "--data", dir); !strings.Contains(out, "not-owner") {
		t.Fatalf("verify on the refused original:\n%s", out)
	} else {
		t.Logf("verify of the refused original:\n%s", out)
	}
	// Its history continues the repository's (the rebuilt server has not
	// shipped): taking ownership lets it ship again, mail taken while
	// refused included.
	if out := tm(t, bin, "backup", "take-ownership", "--yes", "--data", dir); !strings.Contains(out, "is refused from now on") {
		t.Fatalf("take-ownership:\n%s", out)
	}
	st = waitShipped(t, bin, dir, 14)
	if st.Epoch != 3 {
		t.Fatalf("after take-ownership the original holds epoch %d, want 3: %+v", st.Epoch, st)
	}
	s1.stop(t)

	// Now the rebuilt server is the one refused, and its history no longer
	// continues the repository's.
	r := startServer(t, bin, rebuilt)
	st = waitRefused(t, bin, rebuilt, r)
	if st.Refusal.CanTakeOwnership {
		t.Fatalf("rebuilt server may take over a repository that went on without it: %+v", st)
	}
	r.stop(t)
	t.Logf("log of the refused rebuilt server:\n%s", r.log)

	// The data directory is removed and the server started afresh beside
	// the repository.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	s1 = startServer(t, bin, dir)
	waitRefused(t, bin, dir, s1)
	s1.stop(t)

	// Everything acknowledged by the owners is in the repository.
	dir3 := filepath.Join(top, "data3")
	tm(t, bin, "restore", "server", "--from", repoDir, "--data", dir3)
	s3 := startServer(t, bin, dir3, "--no-backup")
	defer s3.stop(t)
	box := mailboxOf(t, s3.imap, "alice@example.org", "pw")
	acked.Range(func(k, _ any) bool {
		if _, ok := box[k.(string)]; !ok {
			t.Errorf("repository lacks %s", k)
		}
		return true
	})
}
