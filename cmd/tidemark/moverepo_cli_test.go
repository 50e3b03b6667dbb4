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

// TestMoveRepositoryToAnotherDisk follows the README's "Moving the backup
// repository to another disk": stop, copy the directory, point [backup]
// repository at the copy, start. The server goes on shipping into the
// copy (same repository, same owner, nothing refused or rebuilt), the
// copy verifies, and a restore from it brings every message back.
func TestMoveRepositoryToAnotherDisk(t *testing.T) {
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
	deliverN(t, s.lmtp, "before", 5, &acked)
	before := waitCaughtUp(t, bin, dir, s)
	s.stop(t)

	// "rsync -a OLD/ NEW/": a copy on the other disk, the old one kept
	// until the new one verifies.
	newRepo := filepath.Join(top, "otherdisk", "tidemark-backup")
	if err := os.MkdirAll(filepath.Dir(newRepo), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(top, "tidemark-backup"), newRepo).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	cfgPath := filepath.Join(dir, configFile)
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	const old = `repository = "../tidemark-backup"`
	if !strings.Contains(string(raw), old) {
		t.Fatalf("configuration lacks %s", old)
	}
	raw = []byte(strings.Replace(string(raw), old, fmt.Sprintf("repository = %q", newRepo), 1))
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	// The old copy goes away (the disk is gone): the server must not need it.
	if err := os.Rename(filepath.Join(top, "tidemark-backup"), filepath.Join(top, "old-backup")); err != nil {
		t.Fatal(err)
	}

	s = startServer(t, bin, dir)
	deliverN(t, s.lmtp, "after", 5, &acked)
	after := waitCaughtUp(t, bin, dir, s)
	s.stop(t)
	if !strings.Contains(s.log.String(), `msg="backup scanner running" repository=`+newRepo) {
		t.Errorf("the server does not ship to %s:\n%s", newRepo, s.log)
	}
	if after.Repository != before.Repository || after.Server != before.Server || after.Epoch != before.Epoch || after.ShippedLSN <= before.ShippedLSN {
		t.Fatalf("after the move: repository %s server %s epoch %d shipped %d; before: %s %s %d %d\n%s",
			after.Repository, after.Server, after.Epoch, after.ShippedLSN, before.Repository, before.Server, before.Epoch, before.ShippedLSN, s.log)
	}
	if strings.Contains(s.log.String(), "refus") || strings.Contains(s.log.String(), "moved aside") {
		t.Errorf("the server refused the moved repository or rebuilt its catalog:\n%s", s.log)
	}
	if out := tm(t, bin, "backup", "verify", "--read-data", "--data", dir); !strings.Contains(out, "no problems found") {
		t.Fatalf("verify of the moved repository:\n%s", out)
	}
	out := tm(t, bin, "restore", "account", "alice@example.org", "--at", "last", "--into", "copy@example.org", "--data", dir)
	tm(t, bin, "account", "passwd", "copy@example.org", "--password", "pw2", "--data", dir)
	s = startServer(t, bin, dir)
	got := mailboxOf(t, s.imap, "copy@example.org", "pw2")
	s.stop(t)
	n := 0
	acked.Range(func(k, _ any) bool {
		n++
		if _, ok := got[k.(string)]; !ok {
			t.Errorf("message %s not restored from the moved repository", k)
		}
		return true
	})
	if n != 10 {
		t.Errorf("%d messages acknowledged, want 10\n%s", n, out)
	}
}

// waitCaughtUp waits until the running server's backup has shipped
// everything, and returns its status.
func waitCaughtUp(t *testing.T, bin, dir string, s *server) scanner.Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st scanner.Status
		out := tm(t, bin, "backup", "status", "--json", "--data", dir)
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		if st.State == "running" && st.LagRecords == 0 && st.ShippedLSN > 0 {
			return st
		}
		if time.Now().After(deadline) {
			s.stop(t)
			t.Fatalf("backup did not catch up: %+v\n%s", st, s.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
