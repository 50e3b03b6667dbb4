package dovecottest

import (
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
)

func TestStartLogin(t *testing.T) {
	s := Start(t)
	c, err := imapclient.DialTLS(s.Addr, &imapclient.Options{TLSConfig: s.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(s.User, s.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	s.Restart(t)
}
