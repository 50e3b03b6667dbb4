package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// deliverRaw delivers one message to rcpt over LMTP and fails the test
// unless it is acknowledged.
func deliverRaw(t *testing.T, addr, rcpt string, msg []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		t.Fatalf("deliver to %s: %v", rcpt, err)
	}
}

// tmExit runs the built binary and returns its standard output, standard
// error and exit code.
func tmExit(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	t.Fatalf("tidemark %s: %v", strings.Join(args, " "), err)
	return "", "", 0
}

// newServerWithRepo makes a data directory whose repository is repoDir,
// with the domain example.org and the account alice@example.org (password
// pw).
func newServerWithRepo(t *testing.T, bin, dir, repoDir string) {
	t.Helper()
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
}

// bigMessageLSN returns the LSN of the one MessageAdded record of the redo
// log whose message is at least size bytes.
func bigMessageLSN(t *testing.T, bin, dir string, size int64) uint64 {
	t.Helper()
	out := tm(t, bin, "redolog", "dump", filepath.Join(dir, "redolog"), "--json")
	var found uint64
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		var rec struct {
			LSN    uint64 `json:"lsn"`
			Detail struct {
				Size int64
			} `json:"detail"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("redolog dump: %v: %s", err, sc.Text())
		}
		if rec.Detail.Size >= size {
			if found != 0 {
				t.Fatalf("two records of %d bytes or more: %d and %d", size, found, rec.LSN)
			}
			found = rec.LSN
		}
	}
	if found == 0 {
		t.Fatalf("no record of a message of %d bytes or more in:\n%s", size, out)
	}
	return found
}

// TestRestoreServerMissingBlobFails rebuilds a server from a repository
// that lost the blob of one message: the restore must stop before that
// record, keep what comes before it, exit with the "incomplete" code and
// say at which LSN it stopped and why.
func TestRestoreServerMissingBlobFails(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	dir := filepath.Join(top, "data")
	repoDir := filepath.Join(top, "repo")
	newServerWithRepo(t, bin, dir, repoDir)

	var acked sync.Map
	s := startServer(t, bin, dir)
	deliverN(t, s.lmtp, "before", 5, &acked)
	// Blobs of 1 MiB and more are stored loose, one object each: the one
	// this test removes.
	const bigSize = 1 << 21
	big := "From: drill@example.org\r\nTo: alice@example.org\r\nSubject: big\r\nMessage-ID: <big@drill>\r\n\r\n" +
		strings.Repeat(strings.Repeat("y", 76)+"\r\n", bigSize/78+1)
	deliverRaw(t, s.lmtp, "alice@example.org", []byte(big))
	deliverN(t, s.lmtp, "after", 3, &acked)
	waitShipped(t, bin, dir, 9)
	s.stop(t)
	lsn := bigMessageLSN(t, bin, dir, bigSize)

	var loose []string
	err := filepath.WalkDir(filepath.Join(repoDir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			loose = append(loose, p)
		}
		return err
	})
	if err != nil || len(loose) != 1 {
		t.Fatalf("loose blobs in the repository: %v %v, want the big message's alone", loose, err)
	}
	if err := os.Remove(loose[0]); err != nil {
		t.Fatal(err)
	}

	dir2 := filepath.Join(top, "data2")
	stdout, stderr, code := tmExit(t, bin, "restore", "server", "--from", repoDir, "--data", dir2)
	if code != exitIncomplete {
		t.Fatalf("restore server from a repository missing a blob exited %d, want %d\nstdout:\n%s\nstderr:\n%s",
			code, exitIncomplete, stdout, stderr)
	}
	for _, want := range []string{
		fmt.Sprintf("stopped at lsn %d ", lsn-1),
		fmt.Sprintf("record %d needs blob", lsn),
		"blob missing from repository",
	} {
		if !strings.Contains(stderr, want) || !strings.Contains(stdout, want) {
			t.Errorf("restore server does not say %q\nstdout:\n%s\nstderr:\n%s", want, stdout, stderr)
		}
	}

	// What came before the lost blob is there and serves.
	s = startServer(t, bin, dir2, "--no-backup")
	box := mailbox(t, s.imap)
	s.stop(t)
	if len(box) != 5 {
		t.Fatalf("rebuilt server holds %d messages, want the 5 before the lost blob", len(box))
	}
	for i := range 5 {
		if _, ok := box[fmt.Sprintf("before-%d", i)]; !ok {
			t.Errorf("rebuilt server lacks before-%d", i)
		}
	}
}

// TestRestoreServerPurgedRepository rebuilds from a repository whose first
// segments purge folded into a snapshot and whose grace period has passed:
// restore server must refuse at once, write nothing, name the LSN the
// history starts at and the way out, and that way out must work.
func TestRestoreServerPurgedRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	dir := filepath.Join(top, "data")
	repoDir := filepath.Join(top, "repo")
	newServerWithRepo(t, bin, dir, repoDir)
	var acked sync.Map
	s := startServer(t, bin, dir)
	deliverN(t, s.lmtp, "kept", 4, &acked)
	waitShipped(t, bin, dir, 4)
	s.stop(t)
	if out := tm(t, bin, "backup", "purge", "--days", "1", "--data", dir); !strings.Contains(out, "snapshot") {
		t.Fatalf("purge wrote no snapshot:\n%s", out)
	}
	// The grace period passes: the folded segments go.
	segs, err := filepath.Glob(filepath.Join(repoDir, "log", "*.seg.zst"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments: %v %v", segs, err)
	}
	for _, p := range segs {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	s = startServer(t, bin, dir)
	deliverN(t, s.lmtp, "later", 2, &acked)
	waitShipped(t, bin, dir, 6)
	s.stop(t)

	dir2 := filepath.Join(top, "data2")
	stdout, stderr, code := tmExit(t, bin, "restore", "server", "--from", repoDir, "--data", dir2)
	if code != exitIncomplete || !strings.Contains(stderr, "history starts at lsn ") || !strings.Contains(stderr, "restore external") {
		t.Fatalf("restore server from a purged repository exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if names, _ := os.ReadDir(dir2); len(names) > 0 {
		t.Fatalf("the refused restore wrote %d entries into %s", len(names), dir2)
	}
	tm(t, bin, "init", "--data", dir2)
	tm(t, bin, "restore", "external", repoDir, "--data", dir2)
	s = startServer(t, bin, dir2, "--no-backup")
	box := mailbox(t, s.imap)
	s.stop(t)
	acked.Range(func(k, _ any) bool {
		if _, ok := box[k.(string)]; !ok {
			t.Errorf("imported server lacks %s", k)
		}
		return true
	})
}
