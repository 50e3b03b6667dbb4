package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPostfixEndToEnd runs the README's Postfix recipe for real: a Postfix
// instance of its own (config_directory, queue_directory and data_directory
// in a temporary directory, SMTP on a loopback port, no chroot) looks
// recipients up in tidemark over the socketmap and delivers over LMTP. A
// message to a known recipient sent over SMTP arrives in the INBOX byte
// for byte, below the lines Postfix and tidemark add on top; an unknown
// recipient is refused with 550 at RCPT time, before any data.
//
// Postfix's master must start as root (its daemons then run as its
// mail_owner, "postfix"); without root, or without the Debian postfix
// package, the test skips, and fails under TIDEMARK_REQUIRE_CLIENTS=1 (CI).
func TestPostfixEndToEnd(t *testing.T) {
	pf := requirePostfix(t)
	bin := buildBinary(t)

	dir := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{
		{"init", "--data", dir},
		{"domain", "create", "example.org", "--data", dir},
		{"account", "create", "alice@example.org", "--password", "pw", "--data", dir},
		{"account", "alias", "add", "alice@example.org", "al@example.org", "--data", dir},
	} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	smap := freePort(t)
	s := startServer(t, bin, dir, "--socketmap", smap, "--no-backup")
	t.Cleanup(func() { s.stop(t) })
	waitListening(t, smap)

	smtpAddr := pf.start(t, s.lmtp, smap)

	// A known recipient: accepted, delivered through Postfix's LMTP
	// client, stored as sent.
	msg := "From: Sender <sender@example.net>\r\n" +
		"To: Alice <alice@example.org>\r\n" +
		"Subject: through Postfix\r\n" +
		"Date: Thu, 03 Dec 2026 06:00:00 +0000\r\n" +
		"Message-ID: <postfix-e2e-1@example.net>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n" +
		"\r\n" +
		"Grüße aus dem Test.\r\n" +
		".leading dot, stuffed on the wire\r\n" +
		"\r\n" +
		"last line\r\n"
	if err := sendSMTP(smtpAddr, "sender@example.net", []string{"al@example.org"}, msg); err != nil {
		t.Fatalf("send to a known recipient: %v\n%s", err, pf.log())
	}
	var got []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := mailboxOf(t, s.imap, "alice@example.org", "pw"); len(m) > 0 {
			got = m["postfix-e2e-1"]
			if got == nil {
				t.Fatalf("INBOX holds %d messages, none the one sent", len(m))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the message did not arrive within 30s\npostfix log:\n%s", pf.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	added, body, ok := bytes.Cut(got, []byte("\r\nFrom: Sender"))
	if !ok || "From: Sender"+string(body) != msg {
		t.Fatalf("stored message differs from the one sent:\n%q\nwant it to end with\n%q", got, msg)
	}
	// What sits above: tidemark's Return-Path and Delivered-To, and
	// Postfix's Received line with its queue id.
	top := string(added) + "\r\n"
	for _, want := range []string{"Return-Path: <sender@example.net>\r\n", "Delivered-To: al@example.org\r\n", "Received: from "} {
		if !strings.Contains(top, want) {
			t.Errorf("the lines above the message lack %q:\n%s", want, top)
		}
	}
	queueID := pf.queueID(t, "al@example.org")
	if !strings.Contains(top, "id "+queueID) {
		t.Errorf("Received: line does not carry Postfix's queue id %s:\n%s", queueID, top)
	}

	// An unknown recipient in a hosted domain: 550 at RCPT, nothing queued.
	err := sendSMTP(smtpAddr, "sender@example.net", []string{"nobody@example.org"}, msg)
	if code := smtpCode(err); code != 550 || !strings.Contains(err.Error(), "5.1.1") {
		t.Fatalf("unknown recipient: %v, want 550 5.1.1 at RCPT", err)
	}
	// A domain tidemark does not host is not relayed.
	err = sendSMTP(smtpAddr, "sender@example.net", []string{"someone@elsewhere.test"}, msg)
	if code := smtpCode(err); code/100 != 4 && code/100 != 5 {
		t.Fatalf("other domain: %v, want a refusal at RCPT", err)
	}

	s.stop(t)
	logText := s.log.String()
	if !strings.Contains(logText, "queue_id="+queueID) || !strings.Contains(logText, `msg="lmtp: delivery" rcpt=al@example.org`) {
		t.Errorf("tidemark logged no delivery line with Postfix's queue id %s:\n%s", queueID, logText)
	}
}

// postfixInstance is a Postfix of its own in a temporary directory.
type postfixInstance struct {
	root   string // config in root/etc, queue in root/queue
	runner []string
}

// requirePostfix finds Postfix and a way to start it as root.
func requirePostfix(t *testing.T) *postfixInstance {
	t.Helper()
	need := func(why string) {
		if os.Getenv("TIDEMARK_REQUIRE_CLIENTS") == "1" {
			t.Fatalf("Postfix required (TIDEMARK_REQUIRE_CLIENTS=1): %s", why)
		}
		t.Skipf("%s; set TIDEMARK_REQUIRE_CLIENTS=1 to make this a failure", why)
	}
	if _, err := os.Stat("/usr/sbin/postfix"); err != nil {
		need("postfix not installed (apt-get install postfix, \"No configuration\")")
	}
	var runner []string
	if os.Geteuid() != 0 {
		if exec.Command("sudo", "-n", "true").Run() != nil {
			need("Postfix's master starts as root (its daemons then run as \"postfix\"): run the tests as root or with passwordless sudo")
		}
		runner = []string{"sudo", "-n"}
	}
	if _, err := user.Lookup("postfix"); err != nil {
		need("no \"postfix\" user (the Debian package creates it)")
	}
	// The postfix user must reach the queue: a directory outside the
	// test's private temporary directory, open to traverse.
	root, err := os.MkdirTemp("", "tidemark-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rm := append(append([]string{}, runner...), "rm", "-rf", root)
		exec.Command(rm[0], rm[1:]...).Run()
	})
	return &postfixInstance{root: root, runner: runner}
}

func (p *postfixInstance) cmd(args ...string) *exec.Cmd {
	all := append(append([]string{}, p.runner...), append([]string{"/usr/sbin/postfix", "-c", filepath.Join(p.root, "etc")}, args...)...)
	return exec.Command(all[0], all[1:]...)
}

// start writes main.cf (the README's recipe, with this test's ports) and
// master.cf, starts Postfix, stops it in Cleanup, and returns its SMTP
// address.
func (p *postfixInstance) start(t *testing.T, lmtpAddr, socketmapAddr string) string {
	t.Helper()
	smtpAddr := freePort(t)
	etc, queue, data := filepath.Join(p.root, "etc"), filepath.Join(p.root, "queue"), filepath.Join(p.root, "data")
	for _, d := range []string{etc, queue, data} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := user.Lookup("postfix")
	uid, _ := strconv.Atoi(u.Uid)
	if err := os.Chown(data, uid, -1); err != nil && p.runner == nil {
		t.Fatal(err)
	} else if err != nil {
		if out, err := exec.Command("sudo", "-n", "chown", "postfix", data).CombinedOutput(); err != nil {
			t.Fatalf("chown %s: %v\n%s", data, err, out)
		}
	}
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s
data_directory = %[2]s
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mx.postfix-test.invalid
mydomain = postfix-test.invalid
mydestination =
# Nobody: 127.0.0.1 must not be allowed to relay, so the test sees
# what an outside sender sees.
mynetworks = 192.0.2.1/32
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =
smtputf8_enable = no
maillog_file = %[3]s
maillog_file_prefixes = %[4]s

# The README's recipe.
virtual_mailbox_domains = socketmap:inet:%[5]s:domain
virtual_mailbox_maps = socketmap:inet:%[5]s:mailbox
virtual_transport = lmtp:inet:%[6]s
lmtp_destination_recipient_limit = 1
`, queue, data, filepath.Join(p.root, "maillog"), p.root, socketmapAddr, lmtpAddr)
	// Debian's master.cf, without chroot (a chroot would need copies of
	// system files) and with smtpd on this test's port.
	masterCF := smtpAddr + ` inet n - n - - smtpd
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
lmtp      unix - - n - - lmtp
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`
	if err := os.WriteFile(filepath.Join(etc, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "master.cf"), []byte(masterCF), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := p.cmd("start").CombinedOutput(); err != nil {
		t.Fatalf("postfix start: %v\n%s\n%s", err, out, p.log())
	}
	t.Cleanup(func() {
		if out, err := p.cmd("stop").CombinedOutput(); err != nil {
			t.Errorf("postfix stop: %v\n%s", err, out)
		}
		// "postfix status" fails once the master has gone.
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if p.cmd("status").Run() != nil {
				return
			}
		}
		p.cmd("abort").Run()
		t.Errorf("postfix did not stop within 20s")
	})
	waitListening(t, smtpAddr)
	return smtpAddr
}

// log returns Postfix's log so far.
func (p *postfixInstance) log() string {
	b, _ := os.ReadFile(filepath.Join(p.root, "maillog"))
	return string(b)
}

// queueID returns the queue id of the message Postfix delivered to rcpt.
func (p *postfixInstance) queueID(t *testing.T, rcpt string) string {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, line := range strings.Split(p.log(), "\n") {
			if !strings.Contains(line, "to=<"+rcpt+">") || !strings.Contains(line, "status=sent") {
				continue
			}
			// "... postfix/lmtp[123]: 4ABC123: to=<...>"
			if _, rest, ok := strings.Cut(line, "]: "); ok {
				if id, _, ok := strings.Cut(rest, ":"); ok {
					if !strings.Contains(line, "Ok: stored as item") {
						t.Errorf("LMTP reply in Postfix's log is not the stored reply: %s", line)
					}
					return id
				}
			}
		}
	}
	t.Fatalf("Postfix logged no delivery to %s:\n%s", rcpt, p.log())
	return ""
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(end) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
	}
}

// sendSMTP sends msg over SMTP with a deadline on the whole exchange.
func sendSMTP(addr, from string, to []string, msg string) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// smtpCode returns the reply code of an SMTP error, 0 for none.
func smtpCode(err error) int {
	if te, ok := errors.AsType[*textproto.Error](err); ok {
		return te.Code
	}
	return 0
}
