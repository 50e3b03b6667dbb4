// Package dovecottest starts a real Dovecot IMAP server for tests: its own
// configuration, passwd-file user, maildir and TLS certificate in a temporary
// directory, listening on a free 127.0.0.1 port. It is skipped (or fails
// with TIDEMARK_REQUIRE_CLIENTS=1) when /usr/sbin/dovecot is absent.
package dovecottest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Binary is where Debian's dovecot-core installs the server.
const Binary = "/usr/sbin/dovecot"

// Server is a running Dovecot.
type Server struct {
	Dir       string // configuration, run and log files
	MailDir   string // the user's Maildir++ root (Maildir storage only)
	Addr      string // implicit TLS listener, 127.0.0.1:port
	PlainAddr string // cleartext listener (STARTTLS required before login)
	User      string
	Password  string
	CertPEM   []byte // the server certificate, to trust
	conf      string
	cmd       *exec.Cmd
	uid, gid  int
}

// Options change the Dovecot that StartWith starts.
type Options struct {
	// Storage is the mailbox format: "maildir" (the default; MailDir is
	// the user's Maildir++ root) or "sdbox" (MailDir is then empty).
	// Maildir gives a message moved or copied into its own folder a
	// second new UID later (it is reported vanished and listed again), so
	// tests comparing UIDs across sessions use sdbox.
	Storage string
}

// Start starts Dovecot with one user (User/Password) on Maildir. It is
// stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	location := "maildir:~/Maildir"
	switch o.Storage {
	case "", "maildir":
	case "sdbox":
		location = "sdbox:~/sdbox"
	default:
		t.Fatalf("dovecottest: unknown storage %q", o.Storage)
	}
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv("TIDEMARK_REQUIRE_CLIENTS") == "1" {
			t.Fatalf("dovecot required (TIDEMARK_REQUIRE_CLIENTS=1) but %s is missing: apt-get install dovecot-imapd", Binary)
		}
		t.Skipf("dovecot not installed (%s missing; apt-get install dovecot-imapd); set TIDEMARK_REQUIRE_CLIENTS=1 to make this a failure", Binary)
	}
	dir, err := os.MkdirTemp("", "tidemark-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: dir, User: "migrant", Password: "dovecot-test-pw"}
	if location == "maildir:~/Maildir" {
		s.MailDir = filepath.Join(dir, "mail", "Maildir")
	}
	s.uid, s.gid = os.Getuid(), os.Getgid()
	internal := ""
	if s.uid == 0 {
		// Dovecot refuses root as a mail user; run the mail side as nobody.
		nobody, err := user.Lookup("nobody")
		if err != nil {
			t.Skipf("dovecot test: running as root and no user nobody: %v", err)
		}
		s.uid, _ = strconv.Atoi(nobody.Uid)
		s.gid, _ = strconv.Atoi(nobody.Gid)
	} else {
		me, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		internal = fmt.Sprintf("default_internal_user = %s\ndefault_login_user = %s\ndefault_internal_group = %s\n", me.Username, me.Username, groupName(t))
	}
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "mail"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(dir, "mail"), s.uid, s.gid); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := selfSigned(t)
	s.CertPEM = certPEM
	writeFile(t, filepath.Join(dir, "cert.pem"), certPEM, 0o644)
	writeFile(t, filepath.Join(dir, "key.pem"), keyPEM, 0o600)
	writeFile(t, filepath.Join(dir, "passwd"), fmt.Appendf(nil, "%s:{PLAIN}%s:%d:%d::%s\n", s.User, s.Password, s.uid, s.gid, filepath.Join(dir, "mail")), 0o644)
	port := freePort(t)
	s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	plain := freePort(t)
	s.PlainAddr = fmt.Sprintf("127.0.0.1:%d", plain)
	s.conf = filepath.Join(dir, "dovecot.conf")
	writeFile(t, s.conf, fmt.Appendf(nil, `base_dir = %[1]s/run
state_dir = %[1]s/run
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
%[3]sssl = required
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = %[5]s
mail_fsync = never
passdb {
  driver = passwd-file
  args = %[1]s/passwd
}
userdb {
  driver = passwd-file
  args = %[1]s/passwd
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \Sent
  }
  mailbox Drafts {
    special_use = \Drafts
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[4]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[2]d
  }
  chroot =
}
service anvil {
  chroot =
}
`, dir, port, internal, plain, location), 0o644)
	s.Restart(t)
	t.Cleanup(s.Kill)
	return s
}

func groupName(t testing.TB) string {
	g, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	if err != nil {
		t.Fatal(err)
	}
	return g.Name
}

// Restart starts Dovecot (again, after Kill) on the same port and data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	cmd := exec.Command(Binary, "-F", "-c", s.conf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dovecot: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.Dir, "dovecot.log"))
			s.Kill()
			t.Fatalf("dovecot did not listen on %s: %v\n%s\n%s", s.Addr, err, out.String(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill stops Dovecot at once, with every process it started (the whole
// process group), as an outage would: open connections are cut.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
	// Wait for the port to be free, so a Restart can bind it again.
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
}

// TLSConfig trusts the server's certificate.
func (s *Server) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CertPEM)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// Chown gives a path below MailDir (written by the test) to the mail user.
func (s *Server) Chown(t testing.TB, root string) {
	t.Helper()
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, s.uid, s.gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func selfSigned(t testing.TB) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
