package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/internal/dovecottest"
	"github.com/tidemark/tidemark/internal/testcorpus"
)

// importData makes a data directory with the account alice@example.org,
// through the binary.
func importData(t *testing.T, bin string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{{"init", "--data", dir}, {"domain", "create", "example.org", "--data", dir}} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("tidemark %v: %v\n%s", args, err, out)
		}
	}
	cmd := exec.Command(bin, "account", "create", "alice@example.org", "--password-stdin", "--data", dir)
	cmd.Stdin = strings.NewReader("pw\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	return dir
}

// folderDigests opens the data directory and counts each folder's messages
// by content digest.
func folderDigests(t *testing.T, dir string) map[string]map[dedup.Digest]int {
	t.Helper()
	eng, err := engine.Open(dir, &engine.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx := context.Background()
	a, err := eng.LookupAccount(ctx, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	fs, err := eng.ListFolders(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[dedup.Digest]int{}
	for _, f := range fs {
		items, err := eng.ListItems(ctx, a.ID, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		m := map[dedup.Digest]int{}
		for _, it := range items {
			m[it.Digest]++
		}
		out[f.Path] = m
	}
	return out
}

// TestImportIMAPCLI runs "tidemark import imap" (the real binary) against
// a real Dovecot holding corpus messages in two folders, kills Dovecot in
// the middle of the import (the command must exit 1 and say where it
// stopped), restarts it and runs the import again: it completes, and every
// message is there once. A third run imports nothing; with a server running
// the import is submitted to it and --sync follows it to its end.
func TestImportIMAPCLI(t *testing.T) {
	bin := buildBinary(t)
	s := dovecottest.Start(t)
	msgs := testcorpus.Realistic(t, "linux-security-module-2020H1.tar.zst", "spamassassin-easy-ham-2.tar.zst")
	want := map[string]map[dedup.Digest]int{"INBOX": {}, "Lists/lsm": {}}
	for i, m := range msgs {
		dir, folder := filepath.Join(s.MailDir, ".Lists.lsm"), "Lists/lsm"
		if strings.HasPrefix(m.Name, "spamassassin") {
			dir, folder = s.MailDir, "INBOX"
		}
		name := fmt.Sprintf("%d.M%dP1.corpus:2,S", 1600000000+i, i)
		if err := os.MkdirAll(filepath.Join(dir, "cur"), 0o700); err != nil {
			t.Fatal(err)
		}
		// Dovecot serves maildir messages with CRLF line endings.
		if err := os.WriteFile(filepath.Join(dir, "cur", name), m.Data, 0o600); err != nil {
			t.Fatal(err)
		}
		want[folder][dedup.Sum(testcorpus.CRLF(m.Data))]++
	}
	for _, d := range []string{s.MailDir, filepath.Join(s.MailDir, ".Lists.lsm")} {
		for _, sub := range []string{"new", "tmp"} {
			os.MkdirAll(filepath.Join(d, sub), 0o700)
		}
	}
	s.Chown(t, filepath.Dir(s.MailDir))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, s.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	data := importData(t, bin)

	// First run, cut by an outage: the connection to the source goes
	// through a proxy that drops every connection, and refuses new ones,
	// once 8 MiB of the 38 MiB have come from the server. The cut is by
	// bytes, not time, so a fast import cannot outrun it.
	proxy := startCutProxy(t, "127.0.0.1:0", s.Addr, 8<<20)
	args := []string{"import", "imap", "--host", "127.0.0.1", "--port", strings.Split(proxy.addr, ":")[1], "--tls", "--ca", ca,
		"--user", s.User, "--password-stdin", "--into", "alice@example.org", "--data", data, "--timeout", "5s"}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(s.Password + "\n")
	var stdout, errLog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &errLog
	err := cmd.Run()
	var ee *exec.ExitError
	if !proxy.wasCut() {
		t.Fatalf("the import ended before the outage: %v\n%s%s", err, errLog.String(), stdout.String())
	}
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailed {
		t.Fatalf("import through an outage: %v, want exit %d\n%s%s", err, exitFailed, errLog.String(), stdout.String())
	}
	if !strings.Contains(stdout.String(), "stopped: ") || !strings.Contains(errLog.String(), "run the import again to continue") {
		t.Fatalf("the stopped import does not say where and why:\n%s%s", stdout.String(), errLog.String())
	}
	if got := folderDigests(t, data); len(got["INBOX"])+len(got["Lists/lsm"]) == 0 {
		t.Fatalf("nothing was imported before the outage:\n%s%s", stdout.String(), errLog.String())
	}

	// The source is reachable again, on the same address.
	proxy.close()
	startCutProxy(t, proxy.addr, s.Addr, 0)
	// Second run after the server is back: completes, nothing twice.
	cmd = exec.Command(bin, append(args, "--json")...)
	cmd.Stdin = strings.NewReader(s.Password + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	got := folderDigests(t, data)
	for folder, w := range want {
		if len(got[folder]) != len(w) {
			t.Fatalf("folder %s: %d distinct messages, want %d", folder, len(got[folder]), len(w))
		}
		for d, n := range w {
			if got[folder][d] != n {
				t.Fatalf("folder %s: message %s %d times, want %d", folder, d, got[folder][d], n)
			}
		}
	}

	// Third run: nothing new.
	cmd = exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(s.Password + "\n")
	out, err = cmd.Output()
	if err != nil || !strings.Contains(string(out), ": 0 imported") {
		t.Fatalf("third run: %v\n%s", err, out)
	}

	// A server runs on the data directory: the import is an operation of
	// that server, followed to its end with --sync.
	var extra [][]byte
	for i := 0; i < 3; i++ {
		b := fmt.Appendf(nil, "From: late%d@example.net\nSubject: after the cut-over %d\n\nhello\n", i, i)
		p := filepath.Join(s.MailDir, "new", fmt.Sprintf("%d.M%dP2.late", 1700000000+i, i))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		want["INBOX"][dedup.Sum(testcorpus.CRLF(b))]++
		extra = append(extra, b)
	}
	s.Chown(t, filepath.Dir(s.MailDir))
	srv := startServer(t, bin, data)
	cmd = exec.Command(bin, append(args, "--sync")...)
	cmd.Stdin = strings.NewReader(s.Password + "\n")
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": 3 imported") || !strings.Contains(string(out), "(import): done") {
		srv.stop(t)
		t.Fatalf("import on a running server: %v\n%s\n%s", err, out, srv.log)
	}
	// Let the backup catch up (it ships the in-process runs' records too).
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := exec.Command(bin, "backup", "status", "--json", "--data", data).Output()
		var bs scanner.Status
		if err == nil && json.Unmarshal(out, &bs) == nil && bs.State == "running" && bs.LagRecords == 0 && bs.ShippedLSN > 0 {
			break
		}
		if time.Now().After(deadline) {
			srv.stop(t)
			t.Fatalf("backup did not catch up: %v\n%s\n%s", err, out, srv.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	srv.stop(t)
	got = folderDigests(t, data)
	for d, n := range want["INBOX"] {
		if got["INBOX"][d] != n {
			t.Fatalf("INBOX after the live import: message %s %d times, want %d", d, got["INBOX"][d], n)
		}
	}
	// Every imported message is in the backup: the in-process runs' records
	// were shipped when the server started, the live run's as it ran.
	out, err = exec.Command(bin, "backup", "ls", "alice@example.org", "--json", "--data", data).Output()
	if err != nil {
		t.Fatalf("backup ls: %v\n%s", err, out)
	}
	var st struct{ Items []struct{ FolderPath string } }
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	inBackup := map[string]int{}
	for _, it := range st.Items {
		inBackup[it.FolderPath]++
	}
	for folder, w := range want {
		n := 0
		for _, c := range w {
			n += c
		}
		if inBackup[folder] != n {
			t.Fatalf("backup holds %d messages of %s, want %d", inBackup[folder], folder, n)
		}
	}
	if secrets, _ := os.ReadDir(filepath.Join(data, importDir, "secrets")); len(secrets) != 0 {
		t.Fatalf("passwords left in %s: %d", filepath.Join(data, importDir, "secrets"), len(secrets))
	}
}

// TestImportFilesCLI imports a maildir and an mbox through the binary, and
// checks the command line's refusals.
func TestImportFilesCLI(t *testing.T) {
	bin := buildBinary(t)
	data := importData(t, bin)
	root := filepath.Join(t.TempDir(), "Maildir")
	for _, d := range []string{"cur", "new", "tmp", ".Work/cur", ".Work/new", ".Work/tmp"} {
		os.MkdirAll(filepath.Join(root, d), 0o700)
	}
	os.WriteFile(filepath.Join(root, "cur", "1600000000.M1P1.h:2,S"), []byte("Subject: a\n\na\n"), 0o600)
	os.WriteFile(filepath.Join(root, ".Work", "new", "1600000001.M2P1.h"), []byte("Subject: b\n\nb\n"), 0o600)
	mbox := filepath.Join(t.TempDir(), "old.mbox")
	os.WriteFile(mbox, []byte("From x Tue Mar  2 10:00:00 2021\nSubject: c\n\n>From c\n\n"), 0o600)

	out, err := exec.Command(bin, "import", "maildir", root, "--into", "alice@example.org", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "2 imported") {
		t.Fatalf("import maildir: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "import", "mbox", mbox, "--into", "alice@example.org", "--folder", "Archive/2021", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 imported") {
		t.Fatalf("import mbox: %v\n%s", err, out)
	}
	got := folderDigests(t, data)
	if got["Archive/2021"][dedup.Sum([]byte("Subject: c\n\nFrom c\n"))] != 1 || len(got["Work"]) != 1 || len(got["INBOX"]) != 1 {
		t.Fatalf("folders after import: %v", got)
	}
	for _, c := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"import", "maildir", root, "--data", data}, exitUsage, "--into"},
		{[]string{"import", "imap", "--host", "h", "--tls", "--user", "u", "--password", "x", "--into", "a@example.org", "--data", data}, exitUsage, "unknown flag: --password"},
		{[]string{"import", "imap", "--host", "h", "--user", "u", "--password-stdin", "--into", "a@example.org", "--data", data}, exitUsage, "--tls"},
		{[]string{"import", "maildir", root, "--into", "nobody@example.org", "--data", data}, exitNotFound, "nobody@example.org"},
		{[]string{"import", "mbox", filepath.Join(root, "cur"), "--into", "alice@example.org", "--quoting", "mboxcl", "--data", data}, exitUsage, "--quoting"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Stdin = strings.NewReader("pw\n")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != c.code || !strings.Contains(string(out), c.say) {
			t.Errorf("tidemark %v: %v, want exit %d saying %q\n%s", c.args, err, c.code, c.say, out)
		}
	}
}

// cutProxy forwards TCP connections to a server until limit bytes have
// come back from it (0: no limit); then it closes every connection and its
// listener, so that the client sees an outage: a dropped connection, then
// refused ones.
type cutProxy struct {
	addr string
	ln   net.Listener

	mu    sync.Mutex
	conns []net.Conn
	sent  int64
	cut   bool
}

func startCutProxy(t *testing.T, listen, target string, limit int64) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{addr: ln.Addr().String(), ln: ln}
	t.Cleanup(p.close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				u.Close()
				return
			}
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := u.Read(buf)
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							break
						}
						p.mu.Lock()
						p.sent += int64(n)
						over := limit > 0 && p.sent >= limit
						p.mu.Unlock()
						if over {
							p.mu.Lock()
							p.cut = true
							p.mu.Unlock()
							p.close()
							break
						}
					}
					if err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	return p
}

func (p *cutProxy) wasCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

func (p *cutProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
