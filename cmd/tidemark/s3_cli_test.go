package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/hsm/s3vol/s3test"
)

// TestServeWithS3Repository runs the server with its backup repository on
// a real S3 server (versitygw on 127.0.0.1): mail is backed up there; with
// the S3 server down the mail server still starts and takes mail while the
// backup falls behind, and catches up when S3 is back; then a whole server
// is rebuilt from the bucket alone.
func TestServeWithS3Repository(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	s3 := s3test.StartServer(t)
	o := s3.Options()
	bin := buildBinary(t)
	top := t.TempDir()
	dir := filepath.Join(top, "data")
	tm(t, bin, "init", "--data", dir)
	cfgPath := filepath.Join(dir, configFile)
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	repo := "s3://" + o.Bucket + "/server1"
	cfg := strings.Replace(string(raw), `repository = "../tidemark-backup"`, `repository = "`+repo+`"`, 1)
	cfg = strings.Replace(cfg, "[backup.s3]\n", fmt.Sprintf("[backup.s3]\nendpoint = %q\naccess_key = %q\nsecret_key = %q\n",
		o.Endpoint, o.AccessKey, o.SecretKey), 1)
	if cfg == string(raw) || !strings.Contains(cfg, o.Endpoint) {
		t.Fatalf("could not point the configuration at S3:\n%s", cfg)
	}
	cfg = strings.Replace(cfg, "endpoint = \"\"\n", "", 1)
	cfg = strings.Replace(cfg, "access_key = \"\"\n", "", 1)
	cfg = strings.Replace(cfg, "secret_key = \"\"\n", "", 1)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)

	var acked sync.Map
	s := startServer(t, bin, dir)
	deliverN(t, s.lmtp, "up", 10, &acked)
	waitShipped(t, bin, dir, 10)
	s.stop(t)

	// S3 is down when the server starts: mail must still flow.
	s3.Stop()
	s = startServer(t, bin, dir)
	deliverN(t, s.lmtp, "down", 5, &acked)
	var out string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out = tm(t, bin, "backup", "status", "--data", dir)
		if strings.Contains(out, "failing") && strings.Contains(out, "unreachable") && strings.Contains(out, "5 records") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status during the outage does not show it:\n%s", out)
		}
	}
	t.Logf("status during the outage:\n%s", out)
	s3.Restart()
	waitShipped(t, bin, dir, 15)
	snap := waitConfigSnapshot(t, bin, dir)
	s.stop(t)

	rebuilt := filepath.Join(top, "rebuilt")
	cmd := exec.Command(bin, "restore", "server", "--from", repo, "--s3-endpoint", o.Endpoint, "--data", rebuilt)
	cmd.Env = append(os.Environ(), "TIDEMARK_S3_ACCESS_KEY="+o.AccessKey, "TIDEMARK_S3_SECRET_KEY="+o.SecretKey)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restore server from S3: %v\n%s", err, b)
	}
	// The secret key is in no backup copy of the configuration, and the
	// rebuilt server's says where it comes from instead.
	if strings.Contains(snap, o.SecretKey) || !strings.Contains(snap, "secret_key was removed") {
		t.Errorf("configuration snapshot carries the S3 secret key or no note of its removal:\n%s", snap)
	}
	restored, err := os.ReadFile(filepath.Join(rebuilt, configFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(restored), o.SecretKey) || !strings.Contains(string(restored), "TIDEMARK_S3_SECRET_KEY") {
		t.Errorf("restored tidemark.toml holds the secret key or does not name TIDEMARK_S3_SECRET_KEY:\n%s", restored)
	}
	r := startServer(t, bin, rebuilt, "--no-backup")
	defer r.stop(t)
	box := mailboxOf(t, r.imap, "alice@example.org", "pw")
	acked.Range(func(k, _ any) bool {
		if _, ok := box[k.(string)]; !ok {
			t.Errorf("rebuilt from S3: %s missing", k)
		}
		return true
	})
}
