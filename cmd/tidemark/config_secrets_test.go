package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRestoredConfigConfinesPaths feeds the restore check a forged
// configuration snapshot: every path that leads out of the data directory
// is reset, the secret is dropped, the repository is the one restored from.
func TestRestoredConfigConfinesPaths(t *testing.T) {
	dir := t.TempDir()
	forged := `
[storage]
primary_volume = "../../etc"
[imap]
cert = "../../etc/x"
key = "/etc/shadow"
[backup]
repository = "/somewhere/else"
password_file = "../../root/pw"
[backup.s3]
secret_key = "hunter2"
`
	var notes []string
	out, err := restoredConfig(dir, "/repo", &notes)([]byte(forged))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(out, "restored")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if cfg.Storage.PrimaryVolume != "primary" || cfg.IMAP.Cert != "tls/cert.pem" || cfg.IMAP.Key != "tls/key.pem" ||
		cfg.Backup.Repository != "/repo" || cfg.Backup.S3.SecretKey != "" || cfg.Backup.PasswordFile != "" {
		t.Errorf("restored config not confined: %+v", cfg)
	}
	if strings.Contains(string(out), "hunter2") || len(notes) != 5 {
		t.Errorf("notes %q; config:\n%s", notes, out)
	}
	for _, n := range []string{"primary_volume", "imap.cert", "imap.key", "secret_key", "password_file"} {
		if !strings.Contains(strings.Join(notes, "\n"), n) {
			t.Errorf("no note about %s in %q", n, notes)
		}
	}
	// Paths inside stay as they are; unknown keys refuse.
	notes = nil
	out, err = restoredConfig(dir, "/repo", &notes)([]byte("[imap]\ncert = \"certs/c.pem\"\n"))
	if err != nil || len(notes) != 0 || !strings.Contains(string(out), `"certs/c.pem"`) {
		t.Errorf("a path inside was changed: %v %q\n%s", err, notes, out)
	}
	if _, err := restoredConfig(dir, "/repo", &notes)([]byte("[imap]\nnope = 1\n")); err == nil {
		t.Error("unknown key accepted")
	}
}

// TestSnapshotConfigDropsSecrets: the copy of tidemark.toml stored in
// catalog snapshots holds no secret and says what was removed.
func TestSnapshotConfigDropsSecrets(t *testing.T) {
	raw := []byte("[backup]\nrepository = \"s3://b/p\"\n[backup.s3]\naccess_key = \"AK\"\nsecret_key = \"hunter2\"\n")
	out, err := snapshotConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(out, "snapshot")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "hunter2") || cfg.Backup.S3.SecretKey != "" || cfg.Backup.S3.AccessKey != "AK" ||
		!strings.Contains(string(out), "TIDEMARK_S3_SECRET_KEY") {
		t.Errorf("snapshot copy:\n%s", out)
	}
	plain := []byte("# mine\n[lmtp]\nlisten = \"127.0.0.1:1\"\n")
	if out, err := snapshotConfig(plain); err != nil || string(out) != string(plain) {
		t.Errorf("a config without secrets was changed: %v\n%s", err, out)
	}
}

// TestRestoreServerForgedConfigPaths restores a server whose configuration
// snapshot names TLS files outside the data directory: restore server must
// reset them, say so, and write nothing outside its target.
func TestRestoreServerForgedConfigPaths(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	dir := filepath.Join(top, "data")
	repoDir := filepath.Join(top, "repo")
	newServerWithRepo(t, bin, dir, repoDir)
	// The source server's TLS files sit outside its data directory.
	outside := filepath.Join(top, "victim")
	if err := os.MkdirAll(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cert.pem", "key.pem"} {
		b, err := os.ReadFile(filepath.Join(dir, "tls", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(outside, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := filepath.Join(dir, configFile)
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(raw), `cert = "tls/cert.pem"`, `cert = "../victim/cert.pem"`, 1)
	cfg = strings.Replace(cfg, `key = "tls/key.pem"`, `key = "../victim/key.pem"`, 1)
	if !strings.Contains(cfg, "../victim/key.pem") || !strings.Contains(cfg, "../victim/cert.pem") {
		t.Fatalf("could not point the TLS files outside:\n%s", cfg)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, bin, dir)
	var acked sync.Map
	deliverN(t, s.lmtp, "forged", 3, &acked)
	waitShipped(t, bin, dir, 3)
	waitConfigSnapshot(t, bin, dir)
	s.stop(t)

	// Resolved from deep/rebuilt, the snapshot's paths name deep/victim/...
	deep := filepath.Join(top, "deep")
	rebuilt := filepath.Join(deep, "rebuilt")
	out := tm(t, bin, "restore", "server", "--from", repoDir, "--data", rebuilt)
	if !strings.Contains(out, "imap.cert \"../victim/cert.pem\" leads out of the data directory") {
		t.Errorf("restore server does not say it reset the TLS paths:\n%s", out)
	}
	names, err := os.ReadDir(deep)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0].Name() != "rebuilt" {
		t.Errorf("restore server wrote outside its target: %s holds %v", deep, names)
	}
	restored, err := parseConfig(mustRead(t, filepath.Join(rebuilt, configFile)), "restored")
	if err != nil {
		t.Fatal(err)
	}
	if restored.IMAP.Cert != "tls/cert.pem" || restored.IMAP.Key != "tls/key.pem" {
		t.Errorf("restored TLS paths %q %q", restored.IMAP.Cert, restored.IMAP.Key)
	}
	if _, err := os.Stat(filepath.Join(rebuilt, "tls", "cert.pem")); err != nil {
		t.Errorf("no new certificate inside the data directory: %v", err)
	}
}

// TestSecretFlagRefused: a secret on the command line is refused with a
// message naming where it goes, before anything is done.
func TestSecretFlagRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	target := filepath.Join(t.TempDir(), "new")
	for _, args := range [][]string{
		{"restore", "server", "--from", "s3://b/p", "--data", target, "--s3-secret-key", "hunter2"},
		{"backup", "export", target, "--s3-secret-key", "hunter2", "--data", target},
		{"restore", "external", "s3://b/p", "--s3-secret-key", "hunter2", "--data", target},
	} {
		_, stderr, code := tmExit(t, bin, args...)
		if code == 0 || !strings.Contains(stderr, "TIDEMARK_S3_SECRET_KEY") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
	if _, err := os.Stat(target); err == nil {
		t.Errorf("%s was created", target)
	}
}

// waitConfigSnapshot waits until the running server of dir has stored a
// configuration snapshot and returns it.
func waitConfigSnapshot(t *testing.T, bin, dir string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _, code := tmExit(t, bin, "backup", "config", "--data", dir)
		if code == 0 {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("no configuration snapshot after 20 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
