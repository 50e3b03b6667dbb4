package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// The kill drill runs the real binary, delivers over LMTP from several
// connections, kills the server with SIGKILL in the middle of the load, and
// checks after a restart that every message that got a 250 is there, byte
// for byte, read back over IMAP. It repeats the kill several times on the
// same data directory.

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildBinary builds the tidemark binary once per test process.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tidemark-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "tidemark")
		cmd := exec.Command("go", "build", "-o", builtBin, ".")
		cmd.Stderr = os.Stderr
		buildErr = cmd.Run()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return builtBin
}

// testPassword is the repository password every test process and binary
// gets through TIDEMARK_BACKUP_PASSWORD: init makes repositories
// encrypted, and the restores of a lost data directory need the password
// from outside it, as an administrator's would.
const testPassword = "tidemark test repository password"

func TestMain(m *testing.M) {
	os.Setenv(passwordEnv, testPassword)
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// server is one run of tidemark serve.
type server struct {
	cmd        *exec.Cmd
	lmtp, imap string
	log        *bytes.Buffer
}

func startServer(t *testing.T, bin, dir string, extra ...string) *server {
	t.Helper()
	return startServerEnv(t, bin, dir, nil, extra...)
}

// startServerEnv is startServer with the environment env (nil: this
// process's).
func startServerEnv(t *testing.T, bin, dir string, env []string, extra ...string) *server {
	t.Helper()
	s := &server{lmtp: freePort(t), imap: freePort(t), log: &bytes.Buffer{}}
	// --http off unless extra names one: test servers run side by side,
	// and the default port is one for all of them.
	args := append([]string{"serve", "--data", dir, "--lmtp", s.lmtp, "--imap", s.imap,
		"--imaps", "off", "--http", "off", "--allow-cleartext-login"}, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A server the test did not stop (a variable reused for a restart
	// leaves the first deferred stop on the old one) is killed when the
	// test ends, so no test leaves a server running.
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
	})
	// LMTP listens before IMAP: wait for both, or a test that reads over
	// IMAP at once races the listener on a loaded machine.
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range []string{s.lmtp, s.imap} {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				s.cmd.Process.Kill()
				t.Fatalf("server did not start: %v\n%s", err, s.log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return s
}

func (s *server) kill(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.kill(t)
		t.Fatalf("server did not stop on SIGTERM\n%s", s.log)
	}
}

func drillMessage(id string) []byte {
	return []byte("From: drill@example.org\r\nTo: alice@example.org\r\nSubject: drill " + id +
		"\r\nMessage-ID: <" + id + "@drill>\r\n\r\nbody of " + id + "\r\n" + strings.Repeat("x", len(id)*37) + "\r\n")
}

// deliver sends messages over one LMTP connection until it fails, and
// records each message acknowledged with 250.
func deliver(addr, prefix string, acked *sync.Map) { deliverLimit(addr, prefix, -1, acked) }

// deliverLimit is deliver that stops after n messages (n < 0: never).
func deliverLimit(addr, prefix string, n int, acked *sync.Map) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("drill"); err != nil {
		return
	}
	for i := 0; n < 0 || i < n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if err := c.Mail("drill@example.org", nil); err != nil {
			return
		}
		if err := c.Rcpt("alice@example.org", nil); err != nil {
			return
		}
		w, err := c.Data()
		if err != nil {
			return
		}
		if _, err := w.Write(drillMessage(id)); err != nil {
			return
		}
		// The map holds the recipients that got a 2xx; err reports the others.
		res, err := w.CloseWithLMTPResponse()
		if _, ok := res["alice@example.org"]; ok && err == nil {
			acked.Store(id, true)
		}
		if err != nil {
			return
		}
	}
}

// mailbox returns the INBOX of alice as Message-ID → body.
func mailbox(t *testing.T, addr string) map[string][]byte {
	return mailboxOf(t, addr, "alice@example.org", "pw")
}

// mailboxOf returns an account's INBOX as Message-ID → body.
func mailboxOf(t *testing.T, addr, user, password string) map[string][]byte {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	if sel.NumMessages == 0 {
		return out
	}
	section := &imap.FetchItemBodySection{Peek: true}
	var all imap.SeqSet
	all.AddRange(1, 0) // 1:*
	msgs, err := c.Fetch(all, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		b := m.FindBodySection(section)
		i := bytes.Index(b, []byte("Message-ID: <"))
		if i < 0 {
			t.Fatalf("message without Message-ID:\n%s", b)
		}
		rest := b[i+len("Message-ID: <"):]
		id := string(rest[:bytes.IndexByte(rest, '@')])
		if _, dup := out[id]; dup {
			t.Fatalf("message %s stored twice", id)
		}
		out[id] = b
	}
	return out
}

func TestKillDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("kill drill builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{
		{"init", "--data", dir},
		{"domain", "create", "example.org", "--data", dir},
		{"account", "create", "alice@example.org", "--password", "pw", "--data", dir},
	} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	var acked sync.Map
	for round := 0; round < 3; round++ {
		s := startServer(t, bin, dir)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deliver(s.lmtp, fmt.Sprintf("r%dw%d", round, w), &acked)
			}()
		}
		time.Sleep(time.Duration(300+200*round) * time.Millisecond)
		s.kill(t)
		wg.Wait()
	}
	s := startServer(t, bin, dir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", s.log)
		}
	})
	box := mailbox(t, s.imap)
	n := 0
	acked.Range(func(k, _ any) bool {
		n++
		id := k.(string)
		got, ok := box[id]
		if !ok {
			t.Errorf("acknowledged message %s lost", id)
			return true
		}
		if want := drillMessage(id); !bytes.HasSuffix(got, want) {
			t.Errorf("message %s differs:\n%q\nwant suffix\n%q", id, got, want)
		}
		return true
	})
	if n == 0 {
		t.Fatalf("no delivery was acknowledged before the kills; server log:\n%s", s.log)
	}
	t.Logf("%d acknowledged deliveries survived 3 kills; %d messages stored", n, len(box))

	// The scanner was killed with the server each time: once it has caught
	// up, the repository alone must give back every acknowledged message.
	waitShipped(t, bin, dir, len(box))
	s.stop(t)
	// A rehearsal: the rebuild leaves the repository to the original
	// server (--keep-owner), which still owns it afterwards.
	rebuilt := filepath.Join(filepath.Dir(dir), "rebuilt")
	if out := tm(t, bin, "restore", "server", "--keep-owner", "--from", filepath.Join(filepath.Dir(dir), "tidemark-backup"), "--data", rebuilt); !strings.Contains(out, "keeps its owner") {
		t.Fatalf("restore server --keep-owner:\n%s", out)
	}
	out := tm(t, bin, "backup", "verify", "--read-data", "--data", dir)
	if !strings.Contains(out, "no problems found") {
		t.Fatalf("verify after kills and a rehearsal rebuild:\n%s", out)
	}
	r := startServer(t, bin, rebuilt, "--no-backup")
	defer r.stop(t)
	again := mailbox(t, r.imap)
	if len(again) != len(box) {
		t.Fatalf("rebuilt from the repository: %d messages, the server had %d", len(again), len(box))
	}
	for id, b := range box {
		if !bytes.Equal(again[id], b) {
			t.Fatalf("message %s differs after the rebuild", id)
		}
	}
}
