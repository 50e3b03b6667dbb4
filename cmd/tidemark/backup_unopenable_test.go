package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/scanner"
)

// setRepository points dir's tidemark.toml at repo.
func setRepository(t *testing.T, dir, repo string) {
	t.Helper()
	cfgPath := filepath.Join(dir, configFile)
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := `repository = "` + cfg.Backup.Repository + `"`
	if !strings.Contains(string(raw), old) {
		t.Fatalf("%s has no line %s", cfgPath, old)
	}
	raw = []byte(strings.Replace(string(raw), old, `repository = "`+repo+`"`, 1))
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServeWithUnopenableLocalRepository starts the server with a local
// repository that cannot be opened (its parent is a file, which fails for
// root too): mail must flow, status must show the outage, and once the
// path can be created the scanner must catch up on its own, as after an
// S3 outage.
func TestServeWithUnopenableLocalRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	dir := filepath.Join(top, "data")
	blocker := filepath.Join(top, "mnt")
	if err := os.WriteFile(blocker, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	tm(t, bin, "init", "--data", dir)
	setRepository(t, dir, filepath.Join(blocker, "repo"))
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)

	s := startServer(t, bin, dir)
	defer s.stop(t)
	var acked sync.Map
	deliverN(t, s.lmtp, "blocked", 5, &acked)
	// Every record (the volume registry's, provisioning and the five
	// deliveries) waits for the backup.
	var out string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out = tm(t, bin, "backup", "status", "--data", dir)
		var st scanner.Status
		js := tm(t, bin, "backup", "status", "--json", "--data", dir)
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, js)
		}
		if strings.Contains(out, "failing") && strings.Contains(out, "unreachable") &&
			st.LagRecords >= 7 && st.LagRecords == st.LogLastLSN && strings.Contains(out, fmt.Sprintf("%d records", st.LagRecords)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status with an unopenable repository does not show the outage:\n%s\n%s", out, s.log)
		}
	}
	if box := mailboxOf(t, s.imap, "alice@example.org", "pw"); len(box) != 5 {
		t.Fatalf("mailbox holds %d messages, want 5", len(box))
	}

	// The mount comes back: the scanner must open it and catch up.
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(blocker, 0o700); err != nil {
		t.Fatal(err)
	}
	deliverN(t, s.lmtp, "back", 5, &acked)
	waitShipped(t, bin, dir, 10)
}
