package imap

import (
	"crypto/tls"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func TestCleartextPolicyAndTLS(t *testing.T) {
	cfg := selfSignedTLS(t)
	env := newEnv(t, &Options{TLSConfig: cfg})
	env.account("alice@example.com", 0)

	// Cleartext: LOGINDISABLED advertised, LOGIN refused.
	c := env.dial(nil)
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Has(imap.CapLoginDisabled) || !caps.Has(imap.CapStartTLS) {
		t.Errorf("cleartext caps %v lack LOGINDISABLED/STARTTLS", caps)
	}
	wantCode(t, "cleartext LOGIN", c.Login("alice@example.com", testPassword).Wait(), imap.ResponseCodePrivacyRequired)

	clientTLS := &tls.Config{InsecureSkipVerify: true}
	st, err := imapclient.DialStartTLS(env.addr, &imapclient.Options{TLSConfig: clientTLS})
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer st.Close()
	if err := st.Login("alice@example.com", testPassword).Wait(); err != nil {
		t.Fatalf("login after STARTTLS: %v", err)
	}
	im, err := imapclient.DialTLS(env.tls, &imapclient.Options{TLSConfig: clientTLS})
	if err != nil {
		t.Fatalf("implicit TLS: %v", err)
	}
	defer im.Close()
	if err := im.Login("alice@example.com", testPassword).Wait(); err != nil {
		t.Fatalf("login over implicit TLS: %v", err)
	}
	if _, err := im.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLoginLockout(t *testing.T) {
	clk := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	env := newEnv(t, &Options{AllowInsecureAuth: true, LockoutMaxFailures: 3, LockoutWindow: time.Hour, LockoutDuration: 30 * time.Minute, Now: clk.Now})
	env.account("alice@example.com", 0)
	env.account("bob@example.com", 0)
	c := env.dial(nil)
	for i := 0; i < 3; i++ {
		wantCode(t, "bad password", c.Login("alice@example.com", "nope").Wait(), imap.ResponseCodeAuthenticationFailed)
	}
	// Locked: the right password is refused too, from any connection.
	wantCode(t, "locked login", c.Login("alice@example.com", testPassword).Wait(), imap.ResponseCodeAuthenticationFailed)
	c2 := env.dial(nil)
	wantCode(t, "locked login, new connection", c2.Login("Alice@Example.com", testPassword).Wait(), imap.ResponseCodeAuthenticationFailed)
	// Another account from the same address is not affected.
	if err := env.dial(nil).Login("bob@example.com", testPassword).Wait(); err != nil {
		t.Fatalf("bob locked out too: %v", err)
	}
	clk.Add(31 * time.Minute)
	if err := c2.Login("alice@example.com", testPassword).Wait(); err != nil {
		t.Fatalf("login after lockout expired: %v", err)
	}

	// Failures spread beyond the window do not lock.
	c3 := env.dial(nil)
	for i := 0; i < 4; i++ {
		wantCode(t, "bad password", c3.Login("bob@example.com", "nope").Wait(), imap.ResponseCodeAuthenticationFailed)
		clk.Add(40 * time.Minute)
	}
	if err := c3.Login("bob@example.com", testPassword).Wait(); err != nil {
		t.Fatalf("bob locked by failures outside the window: %v", err)
	}
}

func TestConnectionLimit(t *testing.T) {
	env := newEnv(t, &Options{AllowInsecureAuth: true, MaxConnsPerAccount: 2})
	env.account("alice@example.com", 0)
	c1 := env.login("alice@example.com", nil)
	env.login("alice@example.com", nil)
	c3 := env.dial(nil)
	wantCode(t, "third connection", c3.Login("alice@example.com", testPassword).Wait(), imap.ResponseCodeLimit)
	if err := c1.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
	<-c1.Closed()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c3.Login("alice@example.com", testPassword).Wait()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot never freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIdleTimeout(t *testing.T) {
	env := newEnv(t, &Options{AllowInsecureAuth: true, IdleTimeout: time.Second})
	env.account("alice@example.com", 0)
	r := env.raw()
	lines := r.cmd("LOGIN alice@example.com %s", testPassword)
	if !strings.Contains(lines[len(lines)-1], "OK") {
		t.Fatalf("login: %v", lines)
	}
	bye := r.line()
	if !strings.HasPrefix(bye, "* BYE") {
		t.Fatalf("want untagged BYE on idle timeout, got %q", bye)
	}
}

func TestSizeLimitsAndQuota(t *testing.T) {
	env := newEnv(t, &Options{AllowInsecureAuth: true, AppendLimit: 1000})
	env.account("alice@example.com", 0)
	env.account("small@example.com", 300)
	c := env.login("alice@example.com", nil)
	big := []byte("Subject: big\r\n\r\n" + strings.Repeat("x", 2000) + "\r\n")
	cmd := c.Append("INBOX", int64(len(big)), nil)
	cmd.Write(big)
	cmd.Close()
	_, err := cmd.Wait()
	wantCode(t, "append over APPENDLIMIT", err, imap.ResponseCodeTooBig)
	wantCode(t, "append to missing", func() error {
		cmd := c.Append("Nope", 3, nil)
		cmd.Write([]byte("a\r\n"))
		cmd.Close()
		_, err := cmd.Wait()
		return err
	}(), imap.ResponseCodeTryCreate)

	s := env.login("small@example.com", nil)
	msg := []byte("Subject: q\r\n\r\n" + strings.Repeat("y", 200) + "\r\n")
	appendMsg(t, s, "INBOX", msg, nil)
	cmd = s.Append("INBOX", int64(len(msg)), nil)
	cmd.Write(msg)
	cmd.Close()
	_, err = cmd.Wait()
	wantCode(t, "append over quota", err, imap.ResponseCodeOverQuota)

	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("server unusable after limits: %v", err)
	}
}

func TestAccountIsolation(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	env.account("bob@example.com", 0)
	a := env.login("alice@example.com", nil)
	if err := a.Create("Secret", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, a, "Secret", testMessage(1, "private"), nil)
	appendMsg(t, a, "INBOX", testMessage(2, "private"), nil)

	rec := newRecorder()
	b := env.login("bob@example.com", rec.handler())
	list, err := b.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := listNames(t, list)["Secret"]; ok {
		t.Fatalf("bob sees alice's folder: %v", listNames(t, list))
	}
	wantCode(t, "bob selects alice's folder", func() error { _, err := b.Select("Secret", nil).Wait(); return err }(), imap.ResponseCodeNonExistent)
	sel, err := b.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 0 {
		t.Fatalf("bob's INBOX: %+v %v", sel, err)
	}
	appendMsg(t, a, "INBOX", testMessage(3, "private"), nil)
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.exists) != 0 {
		t.Errorf("bob notified of alice's mail: %v", rec.exists)
	}
}
