package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/scanner"
)

// tmEnv runs the binary with extra environment, without the test
// password in TIDEMARK_BACKUP_PASSWORD, and returns its combined output
// and exit code.
func tmEnv(t *testing.T, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, passwordEnv+"=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("tidemark %s: %v", strings.Join(args, " "), err)
	return "", 0
}

// TestEncryptedRepositoryCLI: init makes the repository encrypted by
// default; status says so; keys are listed, added, rotated and the last
// one kept; a wrong or removed password opens nothing; a flipped byte in
// a segment fails verify and restore server; a manifest edited to say
// "not encrypted" is refused; restore server with the password rebuilds a
// server that opens the repository.
func TestEncryptedRepositoryCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	dir := filepath.Join(top, "data")
	repoDir := filepath.Join(top, "tidemark-backup")
	tm(t, bin, "init", "--data", dir)
	pwFile := filepath.Join(dir, "backup-password")
	if fi, err := os.Stat(pwFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", fi, err)
	}
	// The server (and tm) take testPassword from the environment; the
	// commands run with tmEnv read the file.
	os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	s := startServer(t, bin, dir)
	var acked sync.Map
	deliverN(t, s.lmtp, "enc", 10, &acked)
	st := waitShipped(t, bin, dir, 10)
	if !strings.Contains(st.Encryption, "XChaCha20-Poly1305") {
		t.Fatalf("status of a new repository: encryption %q", st.Encryption)
	}
	s.stop(t)
	filepath.Walk(repoDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			if strings.Contains(string(b), "alice@example.org") {
				t.Errorf("%s holds plaintext", p)
			}
		}
		return err
	})

	// Keys: list, add a second password, remove the first (rotation).
	list := tm(t, bin, "backup", "key", "list", "--data", dir)
	ids := regexp.MustCompile(`\b[0-9a-f]{16}\b`).FindAllString(list, -1)
	if len(ids) != 1 {
		t.Fatalf("key list of a new repository:\n%s", list)
	}
	newPw := filepath.Join(top, "new-password")
	os.WriteFile(newPw, []byte("a new long password\n"), 0o600)
	tm(t, bin, "backup", "key", "add", "--new-password-file", newPw, "--data", dir)
	if ids2 := regexp.MustCompile(`\b[0-9a-f]{16}\b`).FindAllString(tm(t, bin, "backup", "key", "list", "--data", dir), -1); len(ids2) != 2 {
		t.Fatalf("after key add: %v", ids2)
	}
	tm(t, bin, "backup", "key", "remove", ids[0], "--data", dir)
	if out, code := tmEnv(t, bin, nil, "backup", "verify", "--data", dir); code == 0 || !strings.Contains(out, "wrong password") {
		t.Fatalf("verify with the removed password: exit %d\n%s", code, out)
	}
	env := []string{"TIDEMARK_BACKUP_PASSWORD=a new long password"}
	if out, code := tmEnv(t, bin, env, "backup", "verify", "--read-data", "--data", dir); code != 0 || !strings.Contains(out, "no problems found") {
		t.Fatalf("verify with the new password: exit %d\n%s", code, out)
	}
	ids2 := regexp.MustCompile(`\b[0-9a-f]{16}\b`).FindAllString(mustEnv(t, bin, env, "backup", "key", "list", "--data", dir), -1)
	if out, code := tmEnv(t, bin, env, "backup", "key", "remove", ids2[0], "--data", dir); code == 0 || !strings.Contains(out, "last key") {
		t.Fatalf("removing the last key: exit %d\n%s", code, out)
	}
	if out, code := tmEnv(t, bin, []string{"TIDEMARK_BACKUP_PASSWORD=wrong"}, "backup", "status", "--data", dir); code == 0 || !strings.Contains(out, "wrong password") {
		t.Fatalf("status with a wrong password: exit %d\n%s", code, out)
	}
	os.WriteFile(pwFile, []byte("a new long password\n"), 0o600)
	var st2 scanner.Status
	json.Unmarshal([]byte(mustEnv(t, bin, nil, "backup", "status", "--json", "--data", dir)), &st2)
	if !strings.Contains(st2.Encryption, "XChaCha20-Poly1305") {
		t.Fatalf("status after rotation: %+v", st2)
	}

	// An export of the encrypted repository is encrypted with its
	// password, and restores with it.
	exp := filepath.Join(top, "export")
	mustEnv(t, bin, nil, "backup", "export", exp, "--sync", "--data", dir)
	if m, _ := os.ReadFile(filepath.Join(exp, "tidemark-backup.json")); !strings.Contains(string(m), `"encryption"`) {
		t.Fatalf("export manifest:\n%s", m)
	}
	mustEnv(t, bin, nil, "restore", "server", "--from", exp, "--password-file", newPw, "--data", filepath.Join(top, "from-export"))

	// Restore server with the password rebuilds a server that opens the
	// repository with the password file restore wrote.
	rebuilt := filepath.Join(top, "rebuilt")
	mustEnv(t, bin, nil, "restore", "server", "--from", repoDir, "--password-file", newPw, "--data", rebuilt)
	if out := mustEnv(t, bin, nil, "backup", "key", "list", "--data", rebuilt); !strings.Contains(out, ids2[0]) {
		t.Fatalf("the rebuilt server does not open the repository:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(rebuilt, "backup-password")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("rebuilt password file: %v %v", fi, err)
	}
	if out, code := tmEnv(t, bin, nil, "restore", "server", "--from", repoDir, "--data", filepath.Join(top, "nopw")); code == 0 || !strings.Contains(out, "password") {
		t.Fatalf("restore server without a password: exit %d\n%s", code, out)
	}

	// A flipped byte in a segment: verify fails, restore server stops.
	var seg string
	filepath.Walk(filepath.Join(repoDir, "log"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && seg == "" {
			seg = p
		}
		return err
	})
	orig, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), orig...)
	bad[len(bad)/2] ^= 1
	os.WriteFile(seg, bad, 0o600)
	// Reported as a corrupt object, or (when it is the newest segment,
	// which the ownership check reads first) as a failure with the
	// corruption exit code.
	if out, code := tmEnv(t, bin, nil, "backup", "verify", "--data", dir); code == 0 ||
		!strings.Contains(out, "corrupt") && (code != exitCorrupt || !strings.Contains(out, "does not authenticate")) {
		t.Fatalf("verify of a tampered segment: exit %d\n%s", code, out)
	}
	if out, code := tmEnv(t, bin, nil, "restore", "server", "--from", repoDir, "--password-file", newPw, "--data", filepath.Join(top, "tampered")); code == 0 || !strings.Contains(out, "authenticate") {
		t.Fatalf("restore server from a tampered segment: exit %d\n%s", code, out)
	}
	os.WriteFile(seg, orig, 0o600)

	// The manifest edited to say "not encrypted" is refused.
	mpath := filepath.Join(repoDir, "tidemark-backup.json")
	raw, _ := os.ReadFile(mpath)
	var m map[string]any
	json.Unmarshal(raw, &m)
	delete(m, "encryption")
	m["format"] = 2
	down, _ := json.Marshal(m)
	os.WriteFile(mpath, down, 0o600)
	if out, code := tmEnv(t, bin, nil, "backup", "verify", "--data", dir); code == 0 || !strings.Contains(out, "not encrypted") {
		t.Fatalf("verify of a downgraded manifest: exit %d\n%s", code, out)
	}
	os.WriteFile(mpath, raw, 0o600)
}

func mustEnv(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	out, code := tmEnv(t, bin, env, args...)
	if code != 0 {
		t.Fatalf("tidemark %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// TestServeWithWrongRepositoryPassword: a server whose password file does
// not open the repository keeps accepting mail, logs one error that names
// the password file, and backup status says why nothing ships; once the
// file holds the right password the server opens the repository by itself
// and ships what was delivered meanwhile, without a restart.
func TestServeWithWrongRepositoryPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	pwFile := filepath.Join(dir, "backup-password")
	good, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	// The environment password would win over the file: leave it out.
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, passwordEnv+"=") {
			env = append(env, e)
		}
	}

	// First start with the right password creates the repository.
	srv := startServerEnv(t, bin, dir, env)
	deliverN(t, srv.lmtp, "first", 1, &sync.Map{})
	waitShipped(t, bin, dir, 1)
	srv.stop(t)

	if err := os.WriteFile(pwFile, []byte("not the password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv = startServerEnv(t, bin, dir, env)
	defer srv.stop(t)
	deliverN(t, srv.lmtp, "meanwhile", 3, &sync.Map{})
	var st scanner.Status
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := tm(t, bin, "backup", "status", "--json", "--data", dir)
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		if strings.Contains(st.LastError, "wrong password") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status does not say the password is wrong: %+v\n%s", st, srv.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.State == "running" {
		t.Fatalf("status with a wrong password: %+v", st)
	}
	logText := srv.log.String()
	if !strings.Contains(logText, "level=ERROR") || !strings.Contains(logText, pwFile) {
		t.Fatalf("no error naming the password file:\n%s", logText)
	}

	// The administrator fixes the file: the server catches up by itself.
	if err := os.WriteFile(pwFile, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if st := waitShippedWithin(t, bin, dir, 4, 60*time.Second); st.LagRecords != 0 {
		t.Fatalf("after the fix: %+v", st)
	}
	if !strings.Contains(srv.log.String(), "backup repository open again") {
		t.Fatalf("no line saying the repository opened again:\n%s", srv.log)
	}
}
