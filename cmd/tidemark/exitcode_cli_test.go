package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestExitCodes runs the binary into each known class of failure and
// checks the documented exit code (README "Exit codes").
func TestExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	expect := func(code int, say string, args ...string) {
		t.Helper()
		out, got := tmRun(t, bin, args...)
		if got != code || !strings.Contains(out, say) {
			t.Fatalf("tidemark %s: exit %d, want %d saying %q:\n%s", strings.Join(args, " "), got, code, say, out)
		}
	}
	expect(exitNotFound, "not found", "account", "delete", "nobody@example.org", "--yes", "--data", dir)

	// A running server holds the data directory.
	s := startServer(t, bin, dir)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(tm(t, bin, "backup", "status", "--data", dir), "0 records") {
		if time.Now().After(deadline) {
			s.stop(t)
			t.Fatalf("backup did not catch up:\n%s", s.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Purge runs on the live server, as an operation.
	if out, got := tmRun(t, bin, "backup", "purge", "--days", "1", "--sync", "--data", dir); got != exitOK {
		t.Fatalf("backup purge --sync on a running server: exit %d:\n%s", got, out)
	}
	// A redo log repair still opens the data directory itself.
	out, got := tmRun(t, bin, "redolog", "repair", "--data", dir)
	s.stop(t)
	if got != exitLocked || !strings.Contains(out, "in use") {
		t.Fatalf("redolog repair beside a running server: exit %d, want %d:\n%s", got, exitLocked, out)
	}

	expect(exitNotInBackup, "nobody@example.org", "restore", "account", "nobody@example.org", "--at", "last", "--into", "new@example.org", "--data", dir)

	// One flipped byte inside an acknowledged record of the redo log.
	var segs []string
	_ = filepath.Walk(filepath.Join(dir, "redolog"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Size() > 200 {
			segs = append(segs, p)
		}
		return nil
	})
	if len(segs) == 0 {
		t.Fatal("no redo log segment with records")
	}
	sort.Strings(segs)
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x40
	if err := os.WriteFile(segs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	expect(exitCorrupt, "corrupt", "redolog", "verify", filepath.Join(dir, "redolog"))
}
